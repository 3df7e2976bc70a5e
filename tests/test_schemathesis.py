"""The API against its own OpenAPI document, with every Schemathesis check.

Generated requests (valid and invalid by the schema) go to the real app on a real
database with an officer key; no answer may be a 5xx or something the document does
not describe, valid data must be accepted and invalid data refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from litestar import Litestar
from schemathesis.config import SchemathesisConfig

from ledger.records.ids import gtin_check_digit
from ledger.store.config import LedgerConfig
from lookup_api.app import create_app
from lookup_api.auth import create_key
from lookup_api.openapi_doc import GTIN_FORMAT, USCC_FORMAT
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from tests.conftest import ORIGIN, REDIS_URL
from tests.factories import enterprise, uscc

pytestmark = pytest.mark.slow


def refusals_beyond_the_schema(method: str, path: str, *statuses: int) -> dict[str, Any]:
    """An operation whose schema-valid requests may still be refused with ``statuses``."""
    accepted = [200, 201, 401, 403, 404, 409, 429, *statuses]
    return {
        "include-path": path,
        "include-method": method,
        "checks": {"positive_data_acceptance": {"expected-statuses": accepted}},
    }


CONFIG = SchemathesisConfig.from_dict(
    {
        "operations": [
            # A record's rules go beyond JSON Schema: check characters, date order,
            # references to what the ledger holds. Those refusals are the documented
            # 400 (the record is wrong) and 422 (the ledger's state forbids it).
            refusals_beyond_the_schema("POST", "/v1/records", 400, 422),
            # index and leaf_hash are alternatives; OpenAPI parameters cannot say
            # "exactly one of", so naming both or neither is a documented 400.
            refusals_beyond_the_schema("GET", "/v1/ledger/proof/inclusion", 400),
            # Its only parameter is optional: the one request Schemathesis can make that
            # breaks its document is one without the key (which this test always sends)
            # and with query parameters it does not name, which an HTTP API ignores.
            {
                "include-path": "/v1/credit/proposals",
                "include-method": "GET",
                "checks": {"negative_data_rejection": {"enabled": False}},
            },
        ]
    }
)

# Identifiers carry check characters that no pattern can state: generate valid ones.
schemathesis.openapi.format(USCC_FORMAT, st.integers(0, 99_999_999).map(uscc))
schemathesis.openapi.format(
    GTIN_FORMAT,
    st.sampled_from([7, 11, 12, 13]).flatmap(
        lambda n: st.text("0123456789", min_size=n, max_size=n).map(
            lambda body: body + str(gtin_check_digit(body))
        )
    ),
)


class ServedApp:
    """The ASGI app under test, started by the fixture; the schema is read before it."""

    app: Litestar | None = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert self.app is not None, "the served fixture starts the app"
        await self.app(scope, receive, send)


SERVED = ServedApp()
# The document is the app's own, built without opening a database.
DOCUMENT = create_app(Settings(ledger=LedgerConfig("sqlite://", Path("unused.key"), ORIGIN)))
schema = schemathesis.openapi.from_dict(DOCUMENT.openapi_schema.to_schema(), config=CONFIG)
schema.app = SERVED


@pytest.fixture(scope="module")
def officer_token(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp: Path = tmp_path_factory.mktemp("schemathesis")
    # With Redis (as in CI) the public reads go through the response cache too.
    services = Services.open(
        Settings(
            ledger=LedgerConfig(f"sqlite:///{tmp / 'api.db'}", tmp / "ledger.key", ORIGIN),
            code_key_file=tmp / "codes.key",
            redis_url=REDIS_URL,
            redis_prefix=f"credtrace-test:{uuid.uuid4().hex[:12]}:",
        )
    )
    services.ledger.append([enterprise(1)])
    SERVED.app = create_app(services=services)
    yield create_key(services.engine, "officer")[1]
    SERVED.app = None
    services.close()


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_route_keeps_its_document(case: schemathesis.Case[Any], officer_token: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {officer_token}"})
