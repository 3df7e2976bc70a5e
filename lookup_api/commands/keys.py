"""``credtrace keys``: create, list and revoke API keys."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from lookup_api.commands.output import CommandError, command, emit
from lookup_api.roles import ROLES

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from lookup_api.settings import Settings


def _database(settings: Settings) -> Engine:
    """The migrated database; keys need neither the signing key nor the sequencer."""
    from lookup_api.wiring import open_database

    return open_database(settings)


def cmd_create(args: argparse.Namespace, settings: Settings) -> int:
    from lookup_api.auth import create_key

    key, token = create_key(_database(settings), args.role, args.uscc, args.label)
    data = {"key_id": key.key_id, "role": key.role, "uscc": key.uscc, "token": token}
    text = (
        f"created {key.role} key {key.key_id}"
        + (f" for {key.uscc}" if key.uscc else "")
        + f"\n{token}\nkeep it secret: it is shown this once and stored only as a hash"
    )
    emit(args, data, text)
    return 0


def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    from lookup_api.auth import list_keys

    keys = list_keys(_database(settings))
    rows = [
        f"{k['key_id']}  {k['role']:<10} {k['uscc'] or '-':<18} {k['created_at']}"
        + ("  revoked " + str(k["revoked_at"]) if k["revoked_at"] else "")
        for k in keys
    ]
    emit(args, {"keys": keys}, "\n".join(rows) or "no keys")
    return 0


def cmd_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from lookup_api.auth import revoke_key

    if not revoke_key(_database(settings), args.key_id):
        raise CommandError(f"no active key {args.key_id}")
    emit(args, {"revoked": args.key_id}, f"revoked {args.key_id}")
    return 0


def register(sub: Any) -> None:
    keys = sub.add_parser("keys", help="API keys: create, list, revoke")
    ksub = keys.add_subparsers(dest="keys_command", required=True)
    create = command(ksub, "create", cmd_create, "create a key (its token is shown once)")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--uscc", help="the enterprise an enterprise key is bound to")
    create.add_argument("--label", help="who or what the key is for")
    command(ksub, "list", cmd_list, "list keys (never their secrets)")
    command(ksub, "revoke", cmd_revoke, "revoke a key").add_argument("key_id")
