"""Headless Chromium against the real app served live, for the page tests.

The browser is Debian's Chromium (``scripts/browser`` installs it), driven by Playwright
with ``executable_path``: no browser is ever downloaded. The app is served by uvicorn in
a thread on a socket bound before it starts, so cookies, redirects and forms are real
HTTP; the fixture waits for the first ``/health`` answer, never for a fixed time.

Without Chromium the tests that use ``chromium`` are skipped, except under ``CI=true``,
where they fail. Fixtures (registered in ``tests/conftest.py``):

- ``live_site``: a fresh database, the app served at ``live_site.url``, an officer key;
- ``module_live_site``: the same, one per test module;
- ``chromium``: the browser, one per test module;
- ``browser_page``: a new browser context (its own cookies) and page per test.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from ledger.store.config import LedgerConfig
from lookup_api.app import create_app
from lookup_api.auth import create_key
from lookup_api.settings import Settings
from lookup_api.wiring import Services
from tests.conftest import ORIGIN, write_migrated_sqlite

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PHONE = {"width": 360, "height": 780}
DESKTOP = {"width": 1280, "height": 900}
START_TIMEOUT = 60  # seconds for the app's first /health answer


@dataclass
class LiveSite:
    url: str
    services: Services
    officer_token: str

    def key(self, role: str, uscc: str | None = None) -> str:
        """A new key of ``role``, as ``credtrace keys create`` makes it."""
        return create_key(self.services.engine, role, uscc)[1]


@contextmanager
def served(app: Any, listener: socket.socket) -> Iterator[None]:
    """Serve ``app`` on the bound ``listener`` from a thread until the block ends."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [listener]}, name="live-site", daemon=True
    )
    thread.start()
    host, port = listener.getsockname()[:2]
    try:
        # The socket listens already: this request waits in its backlog until the app
        # has started, and its answer says it has.
        with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=START_TIMEOUT) as r:
            assert r.status == 200
        yield
    finally:
        server.should_exit = True
        thread.join(30)


def bound_listener() -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    return listener


@contextmanager
def open_live_site(database_url: str, folder: Path) -> Iterator[LiveSite]:
    """The app over ``database_url`` served live, its key files in ``folder``."""
    listener = bound_listener()
    url = "http://{}:{}".format(*listener.getsockname()[:2])
    settings = Settings(
        ledger=LedgerConfig(database_url, folder / "ledger.key", ORIGIN),
        code_key_file=folder / "codes.key",
        public_url=url,
    )
    services = Services.open(settings)
    try:
        token = create_key(services.engine, "officer", label="browser test")[1]
        with served(create_app(settings, services), listener):
            yield LiveSite(url, services, token)
    finally:
        listener.close()
        services.close()


@pytest.fixture
def live_site(sqlite_url: str, tmp_path: Path) -> Iterator[LiveSite]:
    with open_live_site(sqlite_url, tmp_path) as site:
        yield site


@pytest.fixture(scope="module")
def module_live_site(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: bytes
) -> Iterator[LiveSite]:
    """One live site for a module's page tests that leave its database as they found it."""
    folder = tmp_path_factory.mktemp("live-site")
    with open_live_site(
        write_migrated_sqlite(folder / "ledger.db", sqlite_template), folder
    ) as site:
        yield site


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if CHROMIUM is None:
        if os.environ.get("CI") == "true":
            pytest.fail("no Chromium: scripts/browser installs it, and CI needs it")
        pytest.skip("no Chromium installed (scripts/browser)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def browser_page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport=DESKTOP, locale="zh-CN")
    try:
        yield context.new_page()
    finally:
        context.close()


def screenshots(page: Any, folder: Path, name: str) -> list[Path]:
    """The page as a 360-pixel phone and a desktop show it, whole: ``name-360.png`` and
    ``name-1280.png`` in ``folder``."""
    shots = []
    for size in (PHONE, DESKTOP):
        page.set_viewport_size(size)
        shot = folder / f"{name}-{size['width']}.png"
        page.screenshot(path=str(shot), full_page=True)
        shots.append(shot)
    page.set_viewport_size(DESKTOP)
    return shots


def sign_in(page: Any, site: LiveSite, token: str | None = None, path: str = "/officer") -> None:
    """Open ``path``, get sent to the login form, fill it in and send it, as a person would."""
    page.goto(site.url + path)
    page.fill("input[name=key]", token or site.officer_token)
    page.click("button[type=submit]")
    page.wait_for_load_state()
