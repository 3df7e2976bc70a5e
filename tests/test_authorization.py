"""The authorisation table against the app: every route has an entry, and every route
answers every kind of caller with exactly the intended status.

The intended audience of each route is written here a second time, on purpose: a change
to the table that nobody meant shows up as a wrong status.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar, get
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from ledger.store.config import LedgerConfig
from lookup_api.app import create_app
from lookup_api.auth import create_key, revoke_key
from lookup_api.authorization import CALLERS, ROUTES, authorise_request
from lookup_api.pages.csrf import csrf_token
from lookup_api.pages.session import LOGIN_COOKIE, binding
from lookup_api.ratelimit import RateLimits
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from tests.codes_env import BATCH, GTIN, GTIN13, OWNER, STRANGER, add, batch, product
from tests.conftest import ORIGIN
from tests.factories import enterprise_payload

HTTP_METHODS = {"get", "post", "put", "patch", "delete", "head"}
_lots = itertools.count()

# Who calls: no key, each role, and the keys that must not get in.
ROLE_CALLERS = ("officer", "enterprise", "platform", "auditor")
BAD_KEYS = ("malformed", "revoked")
WRONG_ENTERPRISE = "other_enterprise"  # an enterprise key for another enterprise


@dataclass
class World:
    client: TestClient[Litestar]
    services: Services
    tokens: dict[str, str]
    code_entry: int
    serial: str
    draw_id: str

    @property
    def size(self) -> int:
        checkpoint = self.services.ledger.latest_checkpoint()
        assert checkpoint is not None
        return checkpoint.size

    def headers(self, caller: str) -> dict[str, str]:
        token = self.tokens.get(caller)
        return {} if token is None else {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Sample:
    """A request that the route's audience gets ``ok`` for."""

    method: str
    template: str
    path: Callable[[World], str]
    ok: int = 200
    admits: frozenset[str] = frozenset(CALLERS)  # the intended audience
    keyed: bool = False  # a presented key is checked (bad keys are 401)
    owned: bool = False  # about the enterprise's own data: another enterprise gets 403
    body: Callable[[], Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    form: Callable[[World, str], dict[str, str]] | None = None  # an HTML form, by caller


def fixed(path: str) -> Callable[[World], str]:
    return lambda _world: path


def own_batch_record() -> dict[str, Any]:
    lot = f"M{next(_lots)}"
    return {"kind": "batch.declared", "payload": {**batch(GTIN, lot), "declarant_uscc": OWNER}}


WRITERS = frozenset({"officer", "enterprise"})
OFFICERS = frozenset({"officer"})
LOGIN_NONCE = "matrix-login-nonce"
SAME_SITE = {"Origin": "http://testserver.local"}  # the test client's own origin


def login_form(world: World, _caller: str) -> dict[str, str]:
    token = csrf_token(world.services.page_secret, "login:" + LOGIN_NONCE)
    return {"csrf": token, "key": world.tokens["officer"], "next": "/officer"}


def session_form(world: World, caller: str) -> dict[str, str]:
    """A form with the CSRF token of the caller's own session (its bearer key)."""
    session = binding(world.tokens.get(caller, ""), None)
    return {"csrf": csrf_token(world.services.page_secret, session)}


def record_form(world: World, caller: str) -> dict[str, str]:
    """The record form, filled in with a new batch of the owner's product."""
    record = own_batch_record()
    return {
        **session_form(world, caller),
        "kind": record["kind"],
        "payload_json": json.dumps(record["payload"]),
    }


SAMPLES = [
    Sample("GET", "/health", fixed("/health")),
    Sample("GET", "/metrics", fixed("/metrics")),
    Sample("GET", "/checkpoint", fixed("/checkpoint")),
    Sample("GET", "/v1/ledger/key", fixed("/v1/ledger/key")),
    Sample("GET", "/v1/ledger/checkpoints/{size}", lambda w: f"/v1/ledger/checkpoints/{w.size}"),
    Sample("GET", "/tile/{path}", fixed("/tile/entries/000.p/1")),
    Sample("GET", "/v1/ledger/entries", fixed("/v1/ledger/entries?start=0&end=3"), keyed=True),
    Sample("GET", "/v1/ledger/entries/{index}", fixed("/v1/ledger/entries/0"), keyed=True),
    Sample("GET", "/v1/ledger/entries/{index}/proof", fixed("/v1/ledger/entries/0/proof")),
    Sample("GET", "/v1/ledger/proof/inclusion", fixed("/v1/ledger/proof/inclusion?index=0")),
    Sample("GET", "/v1/ledger/proof/consistency", fixed("/v1/ledger/proof/consistency?first=1")),
    Sample(
        "POST",
        "/v1/records",
        fixed("/v1/records"),
        ok=201,
        admits=WRITERS,
        keyed=True,
        owned=True,
        body=own_batch_record,
    ),
    Sample("GET", "/v1/enterprises/{uscc}", fixed(f"/v1/enterprises/{OWNER}")),
    Sample("GET", "/v1/products/{gtin}", fixed(f"/v1/products/{GTIN}")),
    Sample("GET", "/v1/batches/{gtin}/{batch}", fixed(f"/v1/batches/{GTIN}/{BATCH}")),
    Sample(
        "GET",
        "/v1/enterprises/{uscc}/credit",
        fixed(f"/v1/enterprises/{OWNER}/credit"),
        admits=frozenset({"officer", "auditor"}),
        keyed=True,
    ),
    Sample(
        "POST",
        "/v1/batches/{gtin}/{batch}/decision",
        fixed(f"/v1/batches/{GTIN}/{BATCH}/decision"),
        admits=frozenset({"officer"}),
        keyed=True,
    ),
    Sample(
        "POST",
        "/v1/draws",
        fixed("/v1/draws"),
        ok=201,
        admits=frozenset({"officer"}),
        keyed=True,
        body=lambda: {"count": 1},
    ),
    Sample("GET", "/v1/draws/{draw_id}", lambda w: f"/v1/draws/{w.draw_id}"),
    Sample("GET", "/v1/credit/policies", fixed("/v1/credit/policies")),
    Sample(
        "GET",
        "/v1/credit/proposals",
        fixed("/v1/credit/proposals"),
        admits=frozenset({"officer", "auditor"}),
        keyed=True,
    ),
    Sample("GET", "/v1/codes/keys", fixed("/v1/codes/keys")),
    Sample(
        "GET",
        "/v1/codes/{gtin}/{batch}/{serial}",
        lambda w: f"/v1/codes/{GTIN}/{BATCH}/{w.serial}",
    ),
    Sample(
        "GET",
        "/v1/codes/{gtin}/{batch}/{serial}/proof",
        lambda w: f"/v1/codes/{GTIN}/{BATCH}/{w.serial}/proof",
    ),
    Sample(
        "POST",
        "/v1/codes/batches",
        fixed("/v1/codes/batches"),
        ok=201,
        admits=WRITERS,
        keyed=True,
        owned=True,
        body=lambda: {"gtin": GTIN, "batch": BATCH, "count": 1},
    ),
    Sample(
        "GET",
        "/v1/codes/batches/{entry}/images.zip",
        lambda w: f"/v1/codes/batches/{w.code_entry}/images.zip",
        admits=WRITERS,
        keyed=True,
        owned=True,
    ),
    Sample(
        "POST",
        "/v1/verify/filings",
        fixed("/v1/verify/filings"),
        admits=frozenset({"platform", "officer"}),
        keyed=True,
        body=lambda: {"items": [{"uscc": OWNER, "gtin": GTIN, "batch": BATCH}]},
    ),
    Sample("GET", "/v1/feed", fixed("/v1/feed?limit=5")),
    Sample("GET", "/01", fixed("/01"), ok=400),  # no GTIN: malformed for everyone
    Sample("GET", "/01/{rest}", fixed(f"/01/{GTIN}/10/{BATCH}?linkType=linkset")),
    Sample("GET", "/.well-known/gs1resolver", fixed("/.well-known/gs1resolver")),
    Sample("GET", "/info/01", fixed("/info/01"), ok=400),
    Sample("GET", "/info/01/{rest}", fixed(f"/info/01/{GTIN}/10/{BATCH}")),
    Sample("GET", "/officer/login", fixed("/officer/login")),
    Sample(
        "POST",
        "/officer/login",
        fixed("/officer/login"),
        ok=303,
        headers={**SAME_SITE, "Cookie": f"{LOGIN_COOKIE}={LOGIN_NONCE}"},
        form=login_form,
    ),
    Sample(
        "POST",
        "/officer/logout",
        fixed("/officer/logout"),
        ok=303,
        admits=OFFICERS,
        keyed=True,
        headers=SAME_SITE,
        form=session_form,
    ),
    Sample("GET", "/officer", fixed("/officer"), admits=OFFICERS, keyed=True),
    Sample(
        "GET",
        "/officer/enterprises/{uscc}",
        fixed(f"/officer/enterprises/{OWNER}"),
        admits=OFFICERS,
        keyed=True,
    ),
    Sample("GET", "/officer/blacklist", fixed("/officer/blacklist"), admits=OFFICERS, keyed=True),
    Sample("GET", "/officer/proposals", fixed("/officer/proposals"), admits=OFFICERS, keyed=True),
    Sample(
        "GET",
        "/officer/records/new",
        fixed("/officer/records/new?kind=batch.declared"),
        admits=OFFICERS,
        keyed=True,
    ),
    Sample(
        "POST",
        "/officer/records/new",
        fixed("/officer/records/new"),
        ok=201,
        admits=OFFICERS,
        keyed=True,
        headers=SAME_SITE,
        form=record_form,
    ),
    Sample("GET", "/officer/ledger", fixed("/officer/ledger"), admits=OFFICERS, keyed=True),
    Sample(
        "GET", "/officer/ledger/{index}", fixed("/officer/ledger/0"), admits=OFFICERS, keyed=True
    ),
    Sample("GET", "/officer/dashboard", fixed("/officer/dashboard"), admits=OFFICERS, keyed=True),
    Sample("GET", "/assets/ledger-verify.js", fixed("/assets/ledger-verify.js")),
]


def expected(sample: Sample, caller: str) -> int:
    if caller in BAD_KEYS:
        return 401 if sample.keyed else (sample.ok if "anonymous" in sample.admits else 401)
    if caller == "anonymous":
        return sample.ok if caller in sample.admits else 401
    role = "enterprise" if caller == WRONG_ENTERPRISE else caller
    if role not in sample.admits:
        return 403
    if caller == WRONG_ENTERPRISE and sample.owned:
        return 403
    return sample.ok


def seed(services: Services) -> None:
    """Owner, broker and another enterprise filed and graded; the owner's product and a
    batch declared by the broker."""
    for n, roles in ((4, ["importer"]), (1, ["customs_broker"]), (5, ["importer"])):
        add(services.ledger, "enterprise.filed", enterprise_payload(n, roles=roles))
    add(services.ledger, "product.filed", product(GTIN13, OWNER))
    add(services.ledger, "batch.declared", batch(GTIN, BATCH))


@pytest.fixture
def world(db_url: str, tmp_path: Path) -> Iterator[World]:
    settings = Settings(
        ledger=LedgerConfig(db_url, tmp_path / "ledger.key", ORIGIN),
        code_key_file=tmp_path / "codes.key",
        rate_limits=RateLimits(enabled=False),  # hundreds of bad keys from one address
    )
    services = Services.open(settings)
    try:
        seed(services)
        engine = services.engine
        tokens = {role: create_key(engine, role)[1] for role in ("officer", "platform", "auditor")}
        tokens["enterprise"] = create_key(engine, "enterprise", OWNER)[1]
        tokens[WRONG_ENTERPRISE] = create_key(engine, "enterprise", STRANGER)[1]
        revoked, tokens["revoked"] = create_key(engine, "officer")
        assert revoke_key(engine, revoked.key_id)
        tokens["malformed"] = "ct_not-a-key"
        with TestClient(create_app(settings, services)) as client:
            officer = {"Authorization": f"Bearer {tokens['officer']}"}
            issued = client.post(
                "/v1/codes/batches",
                json={"gtin": GTIN, "batch": BATCH, "count": 1},
                headers=officer,
            )
            assert issued.status_code == 201, issued.text
            drawn = client.post("/v1/draws", json={"count": 1}, headers=officer)
            assert drawn.status_code == 201, drawn.text
            yield World(
                client,
                services,
                tokens,
                issued.json()["entry"],
                issued.json()["codes"][0]["serial"],
                drawn.json()["draw_id"],
            )
    finally:
        services.close()


def _operations(app: Litestar) -> set[tuple[str, str]]:
    paths = app.openapi_schema.to_schema()["paths"]
    return {(m.upper(), p) for p, ops in paths.items() for m in ops if m in HTTP_METHODS}


def test_every_route_in_the_schema_has_an_entry_and_every_entry_a_route() -> None:
    app = create_app(Settings(ledger=LedgerConfig("sqlite://", Path("unused.key"), ORIGIN)))
    operations = _operations(app)
    assert operations - ROUTES.keys() == set(), "routes without an authorisation entry"
    assert ROUTES.keys() - operations == set(), "entries for routes that do not exist"
    assert {(s.method, s.template) for s in SAMPLES} == ROUTES.keys()


def test_every_route_handler_runs_the_authorisation_hook() -> None:
    """The table is enforced by the app's ``before_request``; a controller or handler with
    a hook of its own would replace it (Litestar runs the nearest one), unguarded."""
    app = create_app(Settings(ledger=LedgerConfig("sqlite://", Path("unused.key"), ORIGIN)))
    handlers = [
        h for route in app.routes if isinstance(route, HTTPRoute) for h in route.route_handlers
    ]
    assert handlers
    skipped = [str(h) for h in handlers if h.resolve_before_request() is not authorise_request]
    assert skipped == []


def test_each_route_documents_what_its_entry_may_answer() -> None:
    app = create_app(Settings(ledger=LedgerConfig("sqlite://", Path("unused.key"), ORIGIN)))
    paths = app.openapi_schema.to_schema()["paths"]
    for (method, path), access in ROUTES.items():
        operation = paths[path][method.lower()]
        statuses = set(operation.get("responses", {}))
        where = f"{method} {path}"
        if access.reads_key:
            assert "401" in statuses, where
            assert {"bearer": []} in operation.get("security", []), where
        if access.needs_key:
            assert operation["security"] == [{"bearer": []}], where
        else:
            assert {"bearer": []} not in operation.get("security", []) or {} in operation[
                "security"
            ], where
        if set(CALLERS) - access.callers:
            assert "403" in statuses, where


def test_the_matrix_every_route_and_every_caller(world: World) -> None:
    callers = ("anonymous", *ROLE_CALLERS, *BAD_KEYS, WRONG_ENTERPRISE)
    wrong: list[str] = []
    for sample in SAMPLES:
        for caller in callers:
            response = world.client.request(
                sample.method,
                sample.path(world),
                headers={**sample.headers, **world.headers(caller)},
                json=None if sample.body is None else sample.body(),
                data=None if sample.form is None else sample.form(world, caller),
                follow_redirects=False,
            )
            world.client.cookies.clear()  # a sign-in's cookie must not carry over
            want = expected(sample, caller)
            if response.status_code != want:
                wrong.append(
                    f"{sample.method} {sample.template} as {caller}: "
                    f"{response.status_code}, expected {want}: {response.text[:200]}"
                )
            elif want in (401, 403):
                assert response.headers["content-type"].startswith("application/problem+json")
    assert wrong == []


def test_a_refused_caller_never_makes_the_server_read_the_body(world: World) -> None:
    size = world.services.ledger.size()
    garbage = b"{" * 5000
    for caller in ("anonymous", "platform", "auditor", "malformed"):
        response = world.client.post(
            "/v1/records",
            content=garbage,
            headers={"Content-Type": "application/json", **world.headers(caller)},
        )
        assert response.status_code in (401, 403), response.text
    assert world.services.ledger.size() == size


def test_a_route_without_an_entry_is_refused_to_everyone(world: World) -> None:
    @get("/v1/unlisted", sync_to_thread=False)
    def unlisted() -> str:
        return "should never be answered"

    app = world.client.app
    app.register(unlisted)
    for caller in ("anonymous", "officer", "auditor"):
        response = world.client.get("/v1/unlisted", headers=world.headers(caller))
        assert response.status_code == 403, response.text
        assert "no entry in the authorisation table" in response.json()["detail"]
