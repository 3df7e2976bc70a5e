"""Checking a scanned code online: issued, revoked, recalled, and its proof in the signed log.

The server's answers are facts to check, not to trust: the proof is verified here with the
``ledger`` package and a ledger verifier key (given, or fetched from the server, which the
report then says). A server that cannot be reached leaves these checks "skipped".
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from ledger.audit.codes import verify_code_proof
from ledger.errors import LedgerError
from ledger.tlog.note import NoteError, Verifier
from qr.signing import SignatureError, parse_verifier_lines, verify_url_signature
from qr.verify import FAILED, PASSED, SKIPPED, CodeReport

USER_AGENT = "credtrace-codes-verify/1"


class Unreachable(Exception):
    """The server did not answer (or not as a credtrace server would)."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    def json(self) -> dict[str, Any]:
        try:
            value = json.loads(self.body)
        except ValueError as exc:
            raise Unreachable("the server answered something that is not JSON") from exc
        if not isinstance(value, dict):
            raise Unreachable("the server answered JSON that is not an object")
        return value


def fetch(url: str, accept: str = "application/json", timeout: float = 10.0) -> Answer:
    request = urllib.request.Request(  # noqa: S310 - the code's own http(s) URL
        url, headers={"User-Agent": USER_AGENT, "Accept": accept}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return Answer(int(response.status), response.read())
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, exc.read())
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise Unreachable(f"{url}: {getattr(exc, 'reason', exc)}") from exc


def _problem(answer: Answer) -> str:
    try:
        return str(answer.json().get("detail") or f"HTTP {answer.status}")
    except Unreachable:
        return f"HTTP {answer.status}"


def check_signature_online(report: CodeReport, server: str, timeout: float = 10.0) -> None:
    """Check a signature that was skipped offline for want of keys, with the server's keys."""
    code = report.code
    if code is None or code.sig is None or report.status("signature") != SKIPPED:
        return
    try:
        keys = parse_verifier_lines(
            fetch(f"{server}/v1/codes/keys", "text/plain", timeout).body.decode()
        )
    except (Unreachable, SignatureError, UnicodeDecodeError) as exc:
        report.checks[:] = [c for c in report.checks if c.name != "signature"]
        report.add("signature", SKIPPED, f"no code keys to check with: {exc}")
        return
    report.checks[:] = [c for c in report.checks if c.name != "signature"]
    try:
        key = verify_url_signature(code.canonical_url, code.sig, keys)
    except SignatureError as exc:
        report.add("signature", FAILED, str(exc))
    else:
        report.add(
            "signature",
            PASSED,
            f"signed by code key {key.key_id.hex()} (keys as published by {server})",
        )


def verify_online(
    report: CodeReport, server: str, ledger_key: Verifier | None, timeout: float = 10.0
) -> None:
    """Add the online checks to ``report``: issued, revoked, recalled, proof."""
    code = report.code
    if code is None or report.status("check_character") != PASSED:
        return
    link = code.link
    status_url = f"{server}/v1/codes/{link.gtin}/{link.batch}/{link.serial}"
    try:
        answer = fetch(status_url, timeout=timeout)
        if answer.status != 200:
            report.add("issued", FAILED, f"the service does not know this code: {_problem(answer)}")
            return
        facts = answer.json()
    except Unreachable as exc:
        for name in ("issued", "revoked", "recalled", "proof"):
            report.add(name, SKIPPED, f"the service could not be reached: {exc}")
        return
    report.add("issued", PASSED, f"issued by ledger entry {facts.get('entry')}")
    revoked = facts.get("revoked_entry")
    if revoked is None:
        report.add("revoked", PASSED, "not revoked")
    else:
        report.add("revoked", FAILED, f"revoked by ledger entry {revoked}")
    recalls = facts.get("recall_entries") or []
    if recalls:
        report.add("recalled", FAILED, f"its batch is under recall (entries {recalls})")
    else:
        report.add("recalled", PASSED, "its batch is not under recall")
    _check_proof(report, server, status_url, ledger_key, timeout)


def _check_proof(
    report: CodeReport, server: str, status_url: str, key: Verifier | None, timeout: float
) -> None:
    source = "given"
    try:
        if key is None:
            key = Verifier.parse(
                fetch(f"{server}/v1/ledger/key", "text/plain", timeout).body.decode()
            )
            source = f"fetched from {server} itself: pin it with --ledger-key"
        answer = fetch(status_url + "/proof", timeout=timeout)
        if answer.status != 200:
            report.add("proof", FAILED, f"no proof: {_problem(answer)}")
            return
        proven = verify_code_proof(answer.json(), key)
    except Unreachable as exc:
        report.add("proof", SKIPPED, f"the proof could not be fetched: {exc}")
    except (LedgerError, NoteError, UnicodeDecodeError) as exc:
        report.add("proof", FAILED, f"the proof does not hold: {exc}")
    else:
        code = report.code
        assert code is not None
        wanted = (code.link.serial, code.link.gtin, code.link.batch)
        if (proven.serial, proven.gtin, proven.batch) != wanted:
            report.add("proof", FAILED, "the server's proof is for another code")
            return
        report.add(
            "proof",
            PASSED,
            f"entry {proven.entry} is in the log at checkpoint {proven.tree_size} "
            f"(ledger key {key.key_id.hex()}, {source})",
        )
