"""Browser tests: Debian's Chromium driven by Playwright against the app served on loopback."""

from __future__ import annotations

import os
import shutil

import pytest

from app.config import PROJECT_ROOT
from app.db import get_engine, session_scope
from app.security import create_user
from tests.conftest import serving

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "browser test password"


def _browser_available() -> bool:
    if not os.path.exists(CHROMIUM):
        return False
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def browser():
    if not _browser_available():
        if os.environ.get("STEWARD_REQUIRE_BROWSER") == "1":
            pytest.fail(f"STEWARD_REQUIRE_BROWSER=1 but Chromium ({CHROMIUM}) or Playwright is missing")
        pytest.skip("Chromium or Playwright is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
            ],
        )
        yield browser
        browser.close()


@pytest.fixture
def live_server(app, runner):
    """The seeded app served by waitress on a free loopback port."""
    result = runner.invoke(args=["import", str(PROJECT_ROOT / "seed")])
    assert result.exit_code == 0, result.output
    with session_scope(get_engine(app)) as session:
        for role in ("viewer", "analyst", "admin"):
            create_user(session, username=role, password=PASSWORD, role=role, actor="test")
    with serving(app, threads=4) as base:
        yield base


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.errors = []
    page.on("console", lambda msg: page.errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.base = live_server
    yield page
    context.close()


def sign_in(page, role: str) -> None:
    page.goto(page.base + "/login")
    page.fill("input[name=username]", role)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(page.base + "/")
