"""Codes over HTTP: issuing a batch (own batches only), a code's status, proof and images."""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from litestar import Litestar
from litestar.testing import TestClient
from PIL import Image

from ledger.audit.codes import verify_code_proof
from ledger.store.config import LedgerConfig
from ledger.tlog.note import Verifier
from lookup_api.app import create_app
from lookup_api.auth import create_key
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from qr.serials import new_serials
from qr.signing import parse_verifier_lines, verify_url_signature
from tests.codes_env import BATCH, GTIN, OTHER_GTIN, OWNER, STRANGER, add, batch, seed
from tests.conftest import ORIGIN

PUBLIC = "https://codes.example.cn"


@dataclass
class Api:
    client: TestClient[Litestar]
    services: Services
    tokens: dict[str, str]

    def auth(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def issue(self, who: str, **body: Any) -> Any:
        return self.client.post("/v1/codes/batches", json=body, headers=self.auth(who))


@contextmanager
def _api(db_url: str, folder: Path) -> Iterator[Api]:
    settings = Settings(
        ledger=LedgerConfig(db_url, folder / "ledger.key", ORIGIN),
        public_url=PUBLIC,
        code_key_file=folder / "codes.key",
    )
    services = Services.open(settings)
    try:
        seed(services.ledger)
        add(services.ledger, "batch.declared", batch(OTHER_GTIN, "L2"))
        tokens = {
            "officer": create_key(services.engine, "officer")[1],
            "owner": create_key(services.engine, "enterprise", OWNER)[1],
            "stranger": create_key(services.engine, "enterprise", STRANGER)[1],
            "platform": create_key(services.engine, "platform")[1],
        }
        with TestClient(create_app(settings, services)) as client:
            yield Api(client, services, tokens)
    finally:
        services.close()


@pytest.fixture
def api(db_url: str, tmp_path: Path) -> Iterator[Api]:
    """A log of the test's own, for tests that write."""
    with _api(db_url, tmp_path) as opened:
        yield opened


@pytest.fixture(scope="module")
def refusing(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One log per backend for the refused requests (each checks that nothing was written)."""
    with _api(module_db_url, tmp_path_factory.mktemp("codes-api")) as opened:
        yield opened


def test_the_owner_issues_codes_and_each_resolves_as_genuine(api: Api) -> None:
    response = api.issue("owner", gtin=GTIN[1:], batch=BATCH, count=25)
    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["count"] == 25 and len(receipt["codes"]) == 25
    first = receipt["codes"][0]
    assert first["url"] == f"{PUBLIC}/01/{GTIN}/10/{BATCH}/21/{first['serial']}"
    status = api.client.get(f"/v1/codes/{GTIN}/{BATCH}/{first['serial']}")
    assert status.status_code == 200, status.text
    body = status.json()
    assert body["status"] == "genuine" and body["entry"] == receipt["entry"]
    assert body["revoked_entry"] is None and body["recall_entries"] == []
    proof = api.client.get(body["proof"]).json()
    key = Verifier.parse(api.client.get("/v1/ledger/key").text)
    assert verify_code_proof(proof, key, ORIGIN).serial == first["serial"]


def test_an_enterprise_issues_only_for_its_own_products(api: Api) -> None:
    stranger = api.issue("stranger", gtin=GTIN, batch=BATCH, count=5)
    assert stranger.status_code == 403, stranger.text
    assert stranger.headers["content-type"].startswith("application/problem+json")
    assert "belongs to" in stranger.json()["detail"]
    assert api.issue("platform", gtin=GTIN, batch=BATCH, count=5).status_code == 403
    assert api.issue("officer", gtin=GTIN, batch=BATCH, count=5).status_code == 201
    nobody = api.client.post("/v1/codes/batches", json={"gtin": GTIN, "batch": BATCH, "count": 1})
    assert nobody.status_code == 401


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"gtin": "06901234567893", "batch": BATCH, "count": 5}, 400, "gtin"),
        ({"gtin": GTIN, "batch": "B 1", "count": 5}, 400, "batch"),
        ({"gtin": GTIN, "batch": BATCH, "count": 0}, 400, "count"),
        ({"gtin": GTIN, "batch": BATCH, "count": 10**9}, 400, "count"),
        ({"gtin": GTIN, "batch": BATCH}, 400, "body"),
        ({"gtin": GTIN, "batch": BATCH, "count": 5, "extra": 1}, 400, "body"),
        ({"gtin": GTIN, "batch": "B404", "count": 5}, 422, "batch"),
    ],
)
def test_bad_issue_requests_name_what_is_wrong(
    refusing: Api, body: dict[str, Any], status: int, field: str
) -> None:
    size = refusing.services.ledger.size()
    response = refusing.issue("owner", **body)
    assert response.status_code == status, response.text
    problem = response.json()
    assert problem["errors"][0]["field"] == field
    assert refusing.services.ledger.size() == size


def test_mistyped_unknown_and_copied_serials(api: Api) -> None:
    receipt = api.issue("owner", gtin=GTIN, batch=BATCH, count=3).json()
    serial = receipt["codes"][0]["serial"]
    typo = serial[:-1] + ("0" if serial[-1] != "0" else "1")
    mistyped = api.client.get(f"/v1/codes/{GTIN}/{BATCH}/{typo}")
    assert mistyped.status_code == 400 and mistyped.json()["type"] == "/problems/code-mistyped"
    unknown = api.client.get(f"/v1/codes/{GTIN}/{BATCH}/{new_serials(1)[0]}")
    assert unknown.status_code == 404 and unknown.json()["type"] == "/problems/code-not-issued"
    copied = api.client.get(f"/v1/codes/{OTHER_GTIN}/L2/{serial}")
    assert copied.status_code == 404 and "another product" in copied.json()["detail"]
    assert api.client.get(f"/v1/codes/{GTIN}/{BATCH}/{typo}/proof").status_code == 404


def test_revoked_and_recalled_codes_say_so(api: Api) -> None:
    receipt = api.issue("owner", gtin=GTIN, batch=BATCH, count=3).json()
    serial = receipt["codes"][1]["serial"]
    revoked = add(
        api.services.ledger,
        "codes.revoked",
        {"gtin": GTIN, "batch": BATCH, "serials": [serial], "reason": "stolen labels"},
    )
    recall = add(
        api.services.ledger,
        "recall.issued",
        {"gtin": GTIN, "batches": [BATCH], "reason": "melamine", "issued_on": "2026-01-02"},
    )
    body = api.client.get(f"/v1/codes/{GTIN}/{BATCH}/{serial}").json()
    assert body["status"] == "revoked" and body["revoked_entry"] == revoked
    assert body["recall_entries"] == [recall]


def test_signed_codes_and_their_images(api: Api) -> None:
    receipt = api.issue("owner", gtin=GTIN, batch=BATCH, count=4, sign=True).json()
    keys = parse_verifier_lines(api.client.get("/v1/codes/keys").text)
    for label in receipt["codes"]:
        canonical, sig = label["url"].split("?sig=")
        assert verify_url_signature(canonical, sig, keys).key_id.hex() == receipt["key_id"]
    assert api.client.get(receipt["images"]).status_code == 401
    stranger = api.client.get(receipt["images"], headers=api.auth("stranger"))
    assert stranger.status_code == 403
    download = api.client.get(receipt["images"], headers=api.auth("owner"))
    assert download.status_code == 200
    assert download.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
        assert [r["serial"] for r in rows] == [c["serial"] for c in receipt["codes"]]
        for row in rows:
            image = Image.open(io.BytesIO(archive.read(row["file"])))
            (decoded,) = zxingcpp.read_barcodes(image)
            # A freshly drawn signature is valid too, and the URL before it is the code's.
            assert decoded.text.split("?sig=")[0] == row["url"].split("?sig=")[0]
            canonical, sig = decoded.text.split("?sig=")
            verify_url_signature(canonical, sig, keys)
            # The decoded URL resolves to exactly that unit.
            resolved = api.client.get(
                canonical.removeprefix(PUBLIC), headers={"Accept": "application/json"}
            ).json()
            assert resolved["resolved"]["level"] == "serial"
            assert resolved["code"] == {
                **resolved["code"],
                "serial": row["serial"],
                "status": "genuine",
            }
            assert archive.read(row["file"].replace(".png", ".svg")).startswith(b"<?xml")
