"""The roles an API key may have; a light module, so the command line can list them."""

from __future__ import annotations

from typing import Literal, get_args

Role = Literal["officer", "enterprise", "platform", "auditor"]
ROLES: tuple[Role, ...] = get_args(Role)
