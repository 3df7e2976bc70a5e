"""What every command shares: its errors, its output (text or ``--json``), progress bars
and argument types."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tqdm import tqdm

    from lookup_api.settings import Settings

Command = Callable[[argparse.Namespace, "Settings"], int]


class CommandError(Exception):
    """A command failed; the message says what went wrong."""


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: a decimal integer in ``[low, high]``."""

    def parse(text: str) -> int:
        try:
            value = int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text[:20]!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {low} to {high:,}, got {value}")
        return value

    return parse


def emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    """Print the answer: ``data`` as JSON with ``--json``, ``text`` otherwise."""
    if getattr(args, "json", False):
        print(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        print(text)


def progress(total: int | None, desc: str, unit: str = " entries") -> tqdm[Any]:
    """A progress bar on stderr; silent when stderr is not a terminal."""
    from tqdm import tqdm

    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        unit_scale=True,
        file=sys.stderr,
        disable=None,
        dynamic_ncols=True,
    )


def command(sub: Any, name: str, func: Command, help_text: str) -> argparse.ArgumentParser:
    """A command that answers a question: it always takes --json."""
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_text)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.set_defaults(func=func)
    return parser
