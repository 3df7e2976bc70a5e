"""``credtrace credit`` (policies, explain or grade, recompute, verify), ``credtrace
decide`` (a batch's inspection decision) and ``credtrace draw`` (random inspection
draws and their verification)."""

from __future__ import annotations

import argparse
import datetime as dt
from typing import TYPE_CHECKING, Any

from lookup_api.commands.output import CommandError, bounded_int, command, emit, progress

if TYPE_CHECKING:
    from credit.policy import Policy
    from lookup_api.settings import Settings


def _policy(policy_id: str | None) -> Policy:
    from credit.policy import DEFAULT_POLICY, load_policy

    return load_policy(policy_id or DEFAULT_POLICY)


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text[:20]!r}") from None


def _uscc(text: str) -> str:
    from ledger.records.ids import IdentifierError, normalise_uscc

    try:
        return normalise_uscc(text)
    except IdentifierError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def cmd_policies(args: argparse.Namespace, settings: Settings) -> int:
    from credit.policy import DEFAULT_POLICY, all_policies

    rows = []
    data = []
    for p in all_policies():
        until = p.effective_until.isoformat() if p.effective_until else None
        grades = [g.id for g in p.grades]
        data.append(
            {
                "id": p.id,
                "version": p.version,
                "title": p.title,
                "title_en": p.title_en,
                "effective_from": p.effective_from.isoformat(),
                "effective_until": until,
                "grades": grades,
                "items": len(p.items),
                "default": p.id == DEFAULT_POLICY,
            }
        )
        mark = " (default)" if p.id == DEFAULT_POLICY else ""
        rows.append(
            f"{p.id} v{p.version}{mark}  from {p.effective_from}{' to ' + until if until else ''}"
            f"  grades {' > '.join(grades)}  {len(p.items)} items\n  {p.title} / {p.title_en}"
        )
    emit(args, {"policies": data}, "\n".join(rows))
    return 0


def cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    from credit.explain import explain, reasons_table, today
    from ledger.store.engine import read_transaction
    from lookup_api.wiring import open_database

    policy = _policy(args.policy)
    engine = open_database(settings)
    with read_transaction(engine) as conn:
        found = explain(conn, args.uscc, policy, args.as_of or today())
    g = found.grading
    m = g.measures
    lines = [
        f"{g.uscc}: grade {g.grade} ({policy.grade(g.grade).en}), score {g.score}, "
        f"under {g.policy} on {g.as_of} at tree size {found.tree_size}",
        f"measures: inspection {m.inspection_percent} %, document review "
        f"{'yes' if m.document_review else 'no'}, paperless {'yes' if m.paperless else 'no'}, "
        f"green channel {'yes' if m.green_channel else 'no'}, targeted control "
        f"{'yes' if m.targeted_control else 'no'}, public list {m.public_list or '-'}",
        "",
        reasons_table(g),
    ]
    if found.history:
        lines += [
            "",
            "recorded grades: "
            + ", ".join(f"{h.grade} from {h.on} (entry {h.entry})" for h in found.history),
        ]
    if found.proposed_for_blacklist:
        lines.append("proposed for blacklist.noticed")
    for x in found.sanctions:
        lines.append(f"{x.kind} on {x.on} (entry {x.entry}): {x.reason}")
    emit(args, found.as_json(), "\n".join(lines))
    return 0


def cmd_proposals(args: argparse.Namespace, settings: Settings) -> int:
    from credit.explain import blacklist_proposals
    from ledger.store.engine import read_transaction
    from lookup_api.wiring import open_database

    engine = open_database(settings)
    with read_transaction(engine) as conn:
        found = blacklist_proposals(conn, _policy(args.policy))
    data = {"proposals": [vars(p) for p in found]}
    rows = [f"{p.uscc}  {p.grade}  (entry {p.graded_entry})  {p.name or ''}" for p in found]
    emit(args, data, "\n".join(rows) or "no enterprise is proposed for the blacklist")
    return 0


def cmd_recompute(args: argparse.Namespace, settings: Settings) -> int:
    from credit.recompute import recompute
    from lookup_api.credit_recomputes import recompute_all
    from lookup_api.wiring import open_ledger

    ledger = open_ledger(settings)
    with progress(None, "regrading", " enterprises") as bar:
        # Only a recompute of every enterprise is recorded as the day's (the service's
        # start skips one when it ran today).
        if args.uscc:
            report = recompute(ledger, args.uscc, progress=bar.update)
        else:
            report = recompute_all(ledger, progress=bar.update)
    data = {"enterprises": report.enterprises, "changed": report.changed, "batches": report.batches}
    emit(args, data, f"regraded {report.enterprises} enterprises: {report.changed} grades changed")
    return 0


def cmd_verify(args: argparse.Namespace, settings: Settings) -> int:
    from credit.recompute import verify_grades
    from ledger.store.engine import read_transaction
    from lookup_api.wiring import open_database

    if not args.all and not args.uscc:
        raise CommandError("name an enterprise (USCC) or give --all")
    engine = open_database(settings)
    with read_transaction(engine) as conn:
        report = verify_grades(conn, None if args.all else [args.uscc])
    mismatches = report.mismatches or []
    data: dict[str, Any] = {
        "ok": report.ok,
        "checked": report.checked,
        "mismatches": [
            {"entry": m.entry, "uscc": m.uscc, "recorded": m.recorded, "recomputed": m.recomputed}
            for m in mismatches
        ],
        "unverifiable": [
            {"entry": u.entry, "uscc": u.uscc, "redacted": [list(pair) for pair in u.redacted]}
            for u in report.unverifiable
        ],
    }
    text = "\n".join(
        [f"{'OK' if report.ok else 'MISMATCH'}: {report.checked} recorded grades recomputed"]
        + [m.describe() for m in mismatches]
        + [f"unverifiable: {u.describe()}" for u in report.unverifiable]
    )
    emit(args, data, text)
    return 0 if report.ok else 1


def cmd_decide(args: argparse.Namespace, settings: Settings) -> int:
    import base64

    from credit.decisions import decide_batch
    from ledger.records.ids import IdentifierError, normalise_gtin
    from ledger.store.engine import read_transaction
    from lookup_api.wiring import open_ledger

    try:
        gtin = normalise_gtin(args.gtin)
    except IdentifierError as exc:
        raise CommandError(f"gtin: {exc}") from None
    ledger = open_ledger(settings)
    with read_transaction(ledger.engine) as conn:
        found = decide_batch(conn, ledger, _policy(args.policy), gtin, args.batch)
    data = {
        "batch": found.batch,
        "decision": found.decision,
        "grade": found.grade,
        "policy": found.policy,
        "risk_class": found.risk_class,
        "rate": str(found.rate),
        "checkpoint_size": found.checkpoint_size,
        "seed": base64.b64encode(found.seed).decode(),
    }
    text = (
        f"{found.batch}: {found.decision} (grade {found.grade}, {found.risk_class} risk, rate "
        f"{found.rate}; seed from the checkpoint of size {found.checkpoint_size})"
    )
    emit(args, data, text)
    return 0


def cmd_draw(args: argparse.Namespace, settings: Settings) -> int:
    from credit.draws import DrawRefused, Scope, make_draw
    from lookup_api.operators import operator_actor
    from lookup_api.wiring import open_ledger

    roster = tuple(name for name in (args.roster or "").split(",") if name)
    if roster and not args.inspectors:
        raise CommandError("--roster needs --inspectors N, how many to assign")
    scope = Scope(tuple(args.grade or ()), args.port, roster, args.inspectors or 0)
    ledger = open_ledger(settings)
    actor = operator_actor(args.actor)
    try:
        made = make_draw(
            ledger, _policy(args.policy), args.count, actor, scope=scope, draw_id=args.id
        )
    except DrawRefused as exc:
        raise CommandError(str(exc)) from None
    draw = made.draw
    data = {
        "draw_id": draw.draw_id,
        "entry": made.entry,
        "request": made.request,
        "policy": draw.policy,
        "population": draw.population,
        "count": draw.count,
        "seed_size": draw.seed_size,
        "picks": draw.picks,
        "inspectors": draw.inspectors,
    }
    text = (
        f"draw {draw.draw_id} (entry {made.entry}, requested by entry {made.request}): "
        f"{draw.count} of {draw.population} under {draw.policy}, seeded by the checkpoint "
        f"of size {draw.seed_size}\n"
        + "\n".join(draw.picks)
        + (f"\ninspectors: {', '.join(draw.inspectors)}" if draw.inspectors else "")
    )
    emit(args, data, text)
    return 0


def cmd_draw_verify(args: argparse.Namespace, settings: Settings) -> int:
    from credit.draws import verify_draw
    from ledger.store.engine import read_transaction
    from lookup_api.wiring import open_ledger

    ledger = open_ledger(settings)
    with read_transaction(ledger.engine) as conn:
        check = verify_draw(conn, ledger, _policy(args.policy), args.draw_id)
    differences = check.differences()
    data = {"draw_id": check.draw_id, "entry": check.entry, "matches": check.matches}
    text = (
        f"OK: draw {check.draw_id} (entry {check.entry}) recomputes to the same picks"
        if check.matches
        else f"MISMATCH: draw {check.draw_id} (entry {check.entry}): " + "; ".join(differences)
    )
    emit(args, data | {"differences": differences}, text)
    return 0 if check.matches else 1


def register(sub: Any) -> None:
    credit = sub.add_parser("credit", help="credit grades: policies, explain, recompute, verify")
    csub = credit.add_subparsers(dest="credit_command", required=True)
    command(csub, "policies", cmd_policies, "list the grading policies")
    for name in ("explain", "grade"):
        explain = command(csub, name, cmd_explain, "an enterprise's grade, measures and reasons")
        explain.add_argument("uscc", type=_uscc)
        explain.add_argument("--as-of", type=_date, help="the date to grade on (default today)")
        explain.add_argument("--policy", help="a policy id (default the active policy)")
    proposals = command(
        csub, "proposals", cmd_proposals, "enterprises proposed for blacklist.noticed"
    )
    proposals.add_argument("--policy", help="a policy id (default the active policy)")
    recompute = command(
        csub, "recompute", cmd_recompute, "apply the passage of time: regrade, record changes"
    )
    recompute.add_argument("uscc", nargs="*", type=_uscc, help="only these (default all)")
    verify = command(csub, "verify", cmd_verify, "recompute recorded grades, report mismatches")
    verify.add_argument("uscc", nargs="?", type=_uscc)
    verify.add_argument("--all", action="store_true", help="every recorded grade")

    decide = command(sub, "decide", cmd_decide, "a declared batch's inspection decision")
    decide.add_argument("gtin")
    decide.add_argument("batch")
    decide.add_argument("--policy", help="a policy id (default the active policy)")

    draw = sub.add_parser("draw", help="random inspection draws: make one, verify one")
    dsub = draw.add_subparsers(dest="draw_command", required=True)
    make = command(
        dsub,
        "make",
        cmd_draw,
        "record draw.requested, then the targets weighted by grade as draw.made",
    )
    make.add_argument("--count", type=bounded_int(1, 1_000_000), required=True)
    make.add_argument("--policy", help="a policy id (default the active policy)")
    make.add_argument("--actor", help="operator:<name> (default: the operating-system user)")
    make.add_argument("--grade", action="append", help="only enterprises of this grade")
    make.add_argument("--port", help="only enterprises that declared a batch at this port")
    make.add_argument("--roster", help="inspectors to assign from, comma-separated")
    make.add_argument("--inspectors", type=bounded_int(1, 10_000), help="how many to assign")
    make.add_argument("--id", help="the draw's id (default: a digest of the draw)")
    check = command(dsub, "verify", cmd_draw_verify, "recompute a recorded draw from the ledger")
    check.add_argument("draw_id")
    check.add_argument(
        "--policy", help="for a draw of the earlier form, which names none: its policy"
    )
