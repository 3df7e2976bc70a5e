"""``credtrace ledger export`` / ``import``: a restore leaves the service answering as before.

A seeded log (with a redaction and requests made under Idempotency-Keys) is exported and
imported into a fresh database of the same kind: the projections, replay, the HTTP state
routes and a retried request all answer as on the original; a failure anywhere in an
import writes nothing; a version 1 export (no request keys) still imports.
"""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from litestar import Litestar
from litestar.testing import TestClient
from sqlalchemy import Connection, Engine, insert, select, text

from ledger.records.projector import project_stored, replay
from ledger.records.tables import LIVE
from ledger.store.config import LedgerConfig
from ledger.store.dbverify import verify_database
from ledger.store.export import ExportFileError, StoredRow, export_log, import_log
from ledger.store.keys import load_or_create_signer
from lookup_api.app import create_app
from lookup_api.auth import create_key
from lookup_api.bulk.seed import seed_ledger
from lookup_api.cli import main
from lookup_api.schema import SCHEMA, api_keys
from lookup_api.settings import Settings
from lookup_api.wiring import Services, backup_log, open_ledger, restore_log
from qr.issuance import issue_codes, store_serials
from qr.tables import qr_codes
from tests.codes_env import BATCH, GTIN, appender, seed
from tests.conftest import ORIGIN, _pg_schema_url
from tests.factories import enterprise_payload, redaction

SEED_ENTERPRISES = 12
SEED_BATCH = 64  # several checkpoints, so an import stores several chunks
IDEMPOTENCY_KEYS = ("restore-1", "restore-2", "restore-3")
# Rows a fresh, migrated, opened database holds before anything is appended.
EMPTY_LOG_ROWS = {"ledger_meta": 2, "ledger_progress": 1, "ledger_lock": 1}


@dataclass
class Site:
    """A service over one database, with an HTTP client."""

    services: Services
    client: TestClient[Litestar]

    @property
    def engine(self) -> Engine:
        return self.services.engine


@contextmanager
def _site(url: str, key_file: Path) -> Iterator[Site]:
    services = Services.open(
        Settings(
            ledger=LedgerConfig(url, key_file, ORIGIN),
            code_key_file=key_file.with_name("codes.key"),
        )
    )
    try:
        with TestClient(create_app(services=services)) as client:
            yield Site(services, client)
    finally:
        services.close()


@pytest.fixture
def target_url(module_db_url: str, tmp_path: Path, pg_admin: Engine | None) -> Iterator[str]:
    """A second fresh database of the same kind as the original's."""
    if module_db_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'restored.db'}"
        return
    assert pg_admin is not None
    schema = f"r_{uuid.uuid4().hex[:12]}"
    with pg_admin.connect() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _pg_schema_url(schema)
    finally:
        with pg_admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


def _post(client: TestClient[Litestar], token: str, body: Any, key: str) -> Any:
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
    return client.post("/v1/records", json=body, headers=headers)


def _projections(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every live projection table's rows, in primary-key order."""
    with engine.connect() as conn:
        return {
            name: [
                tuple(row)
                for row in conn.execute(
                    select(LIVE[name]).order_by(*LIVE[name].primary_key.columns)
                )
            ]
            for name in LIVE.names()
        }


def _state_paths(engine: Engine) -> list[str]:
    """The public state routes of every enterprise, product and batch, and some of the log."""
    with engine.connect() as conn:
        usccs = conn.execute(select(LIVE["proj_enterprises"].c.uscc)).scalars().all()
        gtins = conn.execute(select(LIVE["proj_products"].c.gtin)).scalars().all()
        batches = conn.execute(select(LIVE["proj_batches"].c.gtin, LIVE["proj_batches"].c.batch))
        paths = [f"/v1/enterprises/{u}" for u in usccs] + [f"/v1/products/{g}" for g in gtins]
        paths += [f"/v1/batches/{g}/{quote(b, safe='')}" for g, b in batches]
    return [*sorted(paths), "/checkpoint", "/v1/ledger/entries/3", "/v1/ledger/entries/10"]


def _answers(client: TestClient[Litestar], paths: Sequence[str]) -> dict[str, tuple[int, str]]:
    answers = {}
    for path in paths:
        response = client.get(path)
        answers[path] = (response.status_code, response.text)
    return answers


def _row_counts(engine: Engine) -> dict[str, int]:
    """Rows of every declared table, the ones that are empty included."""
    with engine.connect() as conn:
        return {
            name: int(conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())
            for meta in SCHEMA
            for name in meta.tables
        }


def _api_key_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(select(api_keys))]


@dataclass
class Original:
    """The log a restore starts from, and how the service answered over it."""

    export: str
    key_file: Path
    token: str
    bodies: dict[str, Any]
    answers: dict[str, Any]  # Idempotency-Key -> the first response's JSON
    size: int
    projections: dict[str, list[tuple[Any, ...]]]
    paths: list[str]
    routes: dict[str, tuple[int, str]]
    api_keys: list[dict[str, Any]]


@pytest.fixture(scope="module")
def original(module_db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Original:
    """Made once per backend: the tests restore its export elsewhere and only read it."""
    key_file = tmp_path_factory.mktemp("original") / "ledger.key"
    with _site(module_db_url, key_file) as site:
        ledger = site.services.ledger
        seed_ledger(ledger, SEED_ENTERPRISES, seed=11, batch_size=SEED_BATCH)
        assert not ledger.append([redaction(3)]).rejected
        _, token = create_key(site.engine, "officer")
        bodies, answers = {}, {}
        for n, key in enumerate(IDEMPOTENCY_KEYS, start=900_001):
            bodies[key] = {"kind": "enterprise.filed", "payload": enterprise_payload(n)}
            response = _post(site.client, token, bodies[key], key)
            assert response.status_code == 201, response.text
            answers[key] = response.json()
        buffer = io.StringIO()
        size = export_log(site.engine, buffer)
        assert size == ledger.size() > 10 * SEED_ENTERPRISES
        paths = _state_paths(site.engine)
        assert len(paths) > 3 * SEED_ENTERPRISES
        routes = _answers(site.client, paths)
        assert all(status == 200 for status, _ in routes.values()), routes
        return Original(
            export=buffer.getvalue(),
            key_file=key_file,
            token=token,
            bodies=bodies,
            answers=answers,
            size=size,
            projections=_projections(site.engine),
            paths=paths,
            routes=routes,
            api_keys=_api_key_rows(site.engine),
        )


def _restore_api_keys(engine: Engine, rows: list[dict[str, Any]]) -> None:
    """What the README's separate backup of the api_keys table brings back."""
    with engine.begin() as conn:
        conn.execute(insert(api_keys), rows)


def test_a_restored_log_answers_exactly_as_before(
    original: Original, target_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = tmp_path / "log.jsonl"
    export.write_text(original.export, encoding="utf-8")
    monkeypatch.setenv("CREDTRACE_DATABASE_URL", target_url)
    monkeypatch.setenv("CREDTRACE_KEY_FILE", str(original.key_file))
    monkeypatch.setenv("CREDTRACE_ORIGIN", ORIGIN)
    monkeypatch.delenv("CREDTRACE_REDIS_URL", raising=False)
    assert main(["ledger", "import", str(export)]) == 0
    assert main(["ledger", "replay"]) == 0  # the live state is what the log says
    assert main(["ledger", "verify"]) == 0

    with _site(target_url, original.key_file) as site:
        assert _projections(site.engine) == original.projections
        report = replay(site.engine)
        assert report.equal, report.examples
        assert (report.entries, report.redacted) == (original.size, 1)
        assert _answers(site.client, original.paths) == original.routes
        again = io.StringIO()
        assert export_log(site.engine, again) == original.size
        assert again.getvalue() == original.export  # request keys included

        _restore_api_keys(site.engine, original.api_keys)
        for key, body in original.bodies.items():
            retried = _post(site.client, original.token, body, key)
            assert retried.status_code == 201, retried.text
            assert retried.json() == original.answers[key]
            assert retried.headers.get("idempotent-replayed") == "true"
        assert site.services.ledger.size() == original.size  # not a second entry
        other = _post(
            site.client,
            original.token,
            {"kind": "enterprise.filed", "payload": enterprise_payload(900_010)},
            IDEMPOTENCY_KEYS[0],
        )
        assert other.status_code == 422  # the key stands for its first record still
        assert other.json()["errors"][0]["field"] == "Idempotency-Key"
        assert site.services.ledger.size() == original.size


def _corrupt(export: str, how: str) -> str:
    lines = export.splitlines()
    last_entry = max(i for i, line in enumerate(lines) if '"leaf_input"' in line)
    if how == "payload":
        row = json.loads(lines[last_entry])
        row["payload"] = row["payload"][:-4] + ("AAAA" if row["payload"][-4:] != "AAAA" else "BBBB")
        lines[last_entry] = json.dumps(row)
    elif how == "not_json":
        lines[last_entry] = lines[last_entry][:-7]
    elif how == "request_key":
        row = json.loads(lines[-1])
        assert "request_key" in row
        row["index"] = 0  # names an entry it was not made for
        lines[-1] = json.dumps(row)
    elif how == "missing_request_key":
        assert "request_key" in lines[-1]
        del lines[-1]
    return "\n".join(lines) + "\n"


@contextmanager
def _empty_log(url: str, key_file: Path) -> Iterator[Any]:
    signer = load_or_create_signer(key_file, ORIGIN)
    ledger = open_ledger(
        Settings(
            ledger=LedgerConfig(url, key_file, ORIGIN),
            code_key_file=key_file.with_name("codes.key"),
        )
    )
    assert ledger.verifier == signer.verifier
    try:
        yield ledger
    finally:
        ledger.engine.dispose()


@pytest.mark.parametrize(
    "how", ["payload", "not_json", "request_key", "missing_request_key", "projection"]
)
def test_a_failure_late_in_an_import_writes_nothing(
    original: Original, target_url: str, how: str
) -> None:
    with _empty_log(target_url, original.key_file) as ledger:
        before = _row_counts(ledger.engine)
        assert before == {name: EMPTY_LOG_ROWS.get(name, 0) for name in before}
        stored: list[int] = []
        on_entries: Callable[[Connection, Sequence[StoredRow]], object] = project_stored
        if how == "projection":

            def failing(conn: Connection, rows: Sequence[StoredRow]) -> None:
                project_stored(conn, rows)
                if rows[-1][0] + 1 == original.size:
                    raise RuntimeError("the projections could not be written")

            on_entries = failing
        source = original.export if how == "projection" else _corrupt(original.export, how)
        with pytest.raises((ExportFileError, RuntimeError)):
            import_log(ledger, io.StringIO(source), progress=stored.append, on_entries=on_entries)
        assert sum(stored) > original.size // 2  # chunks were stored, then rolled back
        assert _row_counts(ledger.engine) == before
        assert ledger.size() == 0


def _as_version_1(export: str) -> str:
    lines = export.splitlines()
    header = json.loads(lines[0])
    assert header["version"] == 3 and header.pop("request_keys") == len(IDEMPOTENCY_KEYS)
    assert header.pop("attachments") == {}
    header["version"] = 1
    kept = [line for line in lines[1:] if '"request_key"' not in line]
    assert len(kept) == len(lines) - 1 - len(IDEMPOTENCY_KEYS)
    return "\n".join([json.dumps(header), *kept]) + "\n"


def test_a_version_1_export_still_imports_without_request_keys(
    original: Original, target_url: str
) -> None:
    with _empty_log(target_url, original.key_file) as ledger:
        report = restore_log(ledger, io.StringIO(_as_version_1(original.export)))
        assert (report.size, report.redacted) == (original.size, 1)
        assert _projections(ledger.engine) == original.projections
        assert replay(ledger.engine).equal
        assert verify_database(ledger.engine, ledger.verifier, ORIGIN).size == original.size
        assert _row_counts(ledger.engine)["ledger_request_keys"] == 0  # the documented loss


def test_a_version_1_export_cannot_carry_request_keys(original: Original, target_url: str) -> None:
    lines = _as_version_1(original.export).splitlines()
    lines.append(original.export.splitlines()[-1])  # a request key line
    with _empty_log(target_url, original.key_file) as ledger:
        with pytest.raises(ExportFileError, match="version 1"):
            restore_log(ledger, io.StringIO("\n".join(lines) + "\n"))
        assert ledger.size() == 0


def test_an_import_refuses_live_rows_that_no_entry_explains(
    original: Original, target_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = LIVE["proj_enterprises"]
    stray = dict(
        zip(table.columns.keys(), original.projections["proj_enterprises"][0], strict=True)
    )
    with _empty_log(target_url, original.key_file) as ledger:
        with ledger.engine.begin() as conn:
            conn.execute(insert(table), [stray])
        before = _row_counts(ledger.engine)
    export = tmp_path / "log.jsonl"
    export.write_text(original.export, encoding="utf-8")
    monkeypatch.setenv("CREDTRACE_DATABASE_URL", target_url)
    monkeypatch.setenv("CREDTRACE_KEY_FILE", str(original.key_file))
    monkeypatch.setenv("CREDTRACE_ORIGIN", ORIGIN)
    monkeypatch.delenv("CREDTRACE_REDIS_URL", raising=False)
    assert main(["ledger", "import", str(export)]) == 2
    with _empty_log(target_url, original.key_file) as ledger:
        assert _row_counts(ledger.engine) == before  # nothing written
    assert main(["ledger", "replay", "--apply"]) == 0  # clears what no entry explains
    assert main(["ledger", "import", str(export)]) == 0
    with _empty_log(target_url, original.key_file) as ledger:
        assert _projections(ledger.engine) == original.projections
        assert replay(ledger.engine).equal


@pytest.fixture(scope="module")
def coded(
    another_module_db: Callable[[], str], tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path, list[str]]:
    """An export of a log whose batch has codes issued (and some serials left over from
    an issuance that was never appended, which are not part of the log); made once per
    backend, for tests that only read it."""
    key_file = tmp_path_factory.mktemp("coded") / "coded.key"
    ledger = open_ledger(
        Settings(
            ledger=LedgerConfig(another_module_db(), key_file, ORIGIN),
            code_key_file=key_file.with_name("codes.key"),
        )
    )
    try:
        seed(ledger)
        issued = issue_codes(
            ledger.engine,
            appender(ledger),
            gtin=GTIN,
            batch=BATCH,
            count=25,
            key_id="0123abcd",
            actor="officer:test",
        )
        store_serials(
            ledger.engine, gtin=GTIN, batch=BATCH, serials=["0" * 13], root="bm90IGEgcm9vdA=="
        )
        buffer = io.StringIO()
        backup_log(ledger.engine, buffer)
    finally:
        ledger.engine.dispose()
    return buffer.getvalue(), key_file, issued.serials


def _codes(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(qr_codes).order_by(qr_codes.c.serial))]


def test_an_export_carries_the_codes_its_log_issued(
    coded: tuple[str, Path, list[str]], target_url: str
) -> None:
    export, key_file, serials = coded
    header = json.loads(export.splitlines()[0])
    assert (header["version"], header["attachments"]) == (3, {"code": len(serials)})
    with _empty_log(target_url, key_file) as ledger:
        restore_log(ledger, io.StringIO(export))
        restored = _codes(ledger.engine)
        assert sorted(row[0] for row in restored) == sorted(serials)  # not the stray one
        assert {(row[1], row[2]) for row in restored} == {(GTIN, BATCH)}
        again = io.StringIO()
        backup_log(ledger.engine, again)
        assert again.getvalue() == export


@pytest.mark.parametrize("how", ["altered", "dropped", "added", "moved", "unannounced"])
def test_an_export_whose_codes_the_log_does_not_commit_to_imports_nothing(
    coded: tuple[str, Path, list[str]], target_url: str, how: str
) -> None:
    export, key_file, _ = coded
    lines = export.splitlines()
    codes = [i for i, line in enumerate(lines) if line.startswith('{"code":')]
    row = json.loads(lines[codes[3]])
    if how == "altered":
        row["code"]["serial"] = row["code"]["serial"][:-1] + (
            "0" if row["code"]["serial"][-1] != "0" else "1"
        )
        lines[codes[3]] = json.dumps(row)
    elif how == "dropped":
        del lines[codes[3]]
        header = json.loads(lines[0])
        header["attachments"]["code"] -= 1
        lines[0] = json.dumps(header)
    elif how == "added":
        row["code"]["position"] = len(codes)
        row["code"]["serial"] = "Z" * 13
        lines.append(json.dumps(row))
        header = json.loads(lines[0])
        header["attachments"]["code"] += 1
        lines[0] = json.dumps(header)
    elif how == "moved":
        lines[codes[3]], lines[codes[4]] = lines[codes[4]], lines[codes[3]]
    else:
        header = json.loads(lines[0])
        header["attachments"]["code"] -= 1
        lines[0] = json.dumps(header)
    with _empty_log(target_url, key_file) as ledger:
        before = _row_counts(ledger.engine)
        with pytest.raises(ExportFileError, match="code"):
            restore_log(ledger, io.StringIO("\n".join(lines) + "\n"))
        assert _row_counts(ledger.engine) == before
        assert ledger.size() == 0


def test_an_import_without_the_codes_attachment_refuses_a_file_with_codes(
    coded: tuple[str, Path, list[str]], target_url: str
) -> None:
    export, key_file, _ = coded
    with _empty_log(target_url, key_file) as ledger:
        with pytest.raises(ExportFileError, match="carries code rows"):
            import_log(ledger, io.StringIO(export), on_entries=project_stored)
        assert ledger.size() == 0
