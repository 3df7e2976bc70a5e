"""The actor of a bulk import: the operator who ran it, ``operator:<name>``.

``<name>`` is a lower-case login name (1-32 characters: a letter or ``_`` first, then
letters, digits, ``_``, ``.`` or ``-``). By default it is the operating-system user
running the command; ``--actor operator:<name>`` names another. Nothing else is taken:
not an empty or overlong string, not another role's actor (``officer:<key id>``), so an
import can never pass itself off as an API key's writes.
"""

from __future__ import annotations

import getpass
import re

PREFIX = "operator:"
NAME = re.compile(r"[a-z_][a-z0-9_.-]{0,31}\Z")


class OperatorError(ValueError):
    """The actor given, or the operating-system user, is not a valid operator."""


def operator_actor(value: str | None = None) -> str:
    """``value`` checked as ``operator:<name>``; None: the operating-system user's."""
    if value is None:
        try:
            user = getpass.getuser()
        except (KeyError, OSError) as exc:
            raise OperatorError(
                "cannot tell the operator from the operating-system user; "
                "give --actor operator:<name>"
            ) from exc
        if not NAME.match(user):
            raise OperatorError(
                f"the operating-system user {user[:40]!r} is not a valid operator name; "
                "give --actor operator:<name>"
            )
        return PREFIX + user
    name = value.removeprefix(PREFIX)
    if not value.startswith(PREFIX) or not NAME.match(name):
        shown = value if len(value) <= 40 else f"{value[:40]}… ({len(value):,} characters)"
        raise OperatorError(
            f"the actor of an import is operator:<name> (a lower-case login name of 1-32 "
            f"letters, digits, '_', '.' or '-'), got {shown!r}"
        )
    return value
