"""Checking a scanned code offline: its URL's form, its serial's check character, its signature.

Each check says whether it ran and what it found, so a report never claims more than was
checked: an unsigned code offline can only be found well-formed; genuineness then needs
the online answer (is the serial issued, revoked, recalled?).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ledger.tlog.note import Verifier
from qr.links import LinkError, ScannedCode, parse_code_url
from qr.serials import SerialError, parse_serial
from qr.signing import SignatureError, verify_url_signature

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
# What, once passed, shows a code genuine: its signature, or the service's list of issued codes.
AUTHENTICATING = frozenset({"signature", "issued"})


@dataclass(frozen=True)
class Check:
    name: str  # url, check_character, signature, issued, revoked, recalled, proof
    status: str  # passed, failed, skipped (could not run, and why)
    detail: str


@dataclass
class CodeReport:
    url: str
    checks: list[Check] = field(default_factory=list)
    code: ScannedCode | None = None

    @property
    def ok(self) -> bool:
        """No check failed, and one that authenticates the code passed."""
        return all(check.status != FAILED for check in self.checks) and any(
            check.status == PASSED and check.name in AUTHENTICATING for check in self.checks
        )

    def add(self, name: str, status: str, detail: str) -> None:
        self.checks.append(Check(name, status, detail))

    def status(self, name: str) -> str | None:
        return next((c.status for c in self.checks if c.name == name), None)

    def as_json(self) -> dict[str, object]:
        return {
            "url": self.url,
            "ok": self.ok,
            "ran": [c.name for c in self.checks if c.status != SKIPPED],
            "checks": [
                {"name": check.name, "status": check.status, "detail": check.detail}
                for check in self.checks
            ],
        }


def verify_offline(url: str, code_keys: Sequence[Verifier]) -> CodeReport:
    """Form, check character and (when signed and keys are given) the signature."""
    report = CodeReport(url)
    try:
        code = parse_code_url(url)
    except LinkError as exc:
        report.add("url", FAILED, str(exc))
        return report
    report.code = code
    report.add("url", PASSED, "a canonical GS1 Digital Link URL (GTIN, batch, serial)")
    assert code.link.serial is not None
    try:
        parse_serial(code.link.serial)
    except SerialError as exc:
        report.add("check_character", FAILED, str(exc))
        return report
    report.add("check_character", PASSED, "the serial's check character matches")
    if code.sig is None:
        report.add("signature", SKIPPED, "the code carries no signature (sig)")
    elif not code_keys:
        report.add("signature", SKIPPED, "no code-signing keys to check the signature with")
    else:
        try:
            key = verify_url_signature(code.canonical_url, code.sig, code_keys)
        except SignatureError as exc:
            report.add("signature", FAILED, str(exc))
        else:
            report.add("signature", PASSED, f"signed by code key {key.key_id.hex()} ({key.name})")
    return report
