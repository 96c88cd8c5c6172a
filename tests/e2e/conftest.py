"""The console's browser tests share one headless chromium (Debian's, through selenium) and its
screenshots' folder: `make screenshots` keeps them in docs/console/, linked from the README."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator

import pytest

from devtools.template import ROOT
from tests.support.browser import DESKTOP, Browser
from tests.support.console import CognitoPool, ConsoleUser


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    kept = os.environ.get("CONSOLE_SCREENSHOTS")
    folder = (ROOT / kept) if kept else tmp_path_factory.mktemp("console-screenshots")
    opened = Browser(folder)
    yield opened
    opened.quit()


@pytest.fixture
def customer(browser: Browser, gateway_url: str, cognito: CognitoPool) -> Iterator[ConsoleUser]:
    """A new customer signed in through the page, in English, on a desktop window in the machine's
    time zone (all put back afterwards: the browser is shared)."""
    user = cognito.sign_up(f"customer-{secrets.token_hex(4)}@example.com")
    browser.resize(DESKTOP)
    browser.driver.get(f"{gateway_url}/console")
    browser.driver.execute_script("sessionStorage.clear(); localStorage.setItem('gw.lang', 'en')")
    browser.driver.get("about:blank")
    browser.driver.get(f"{gateway_url}/console")
    browser.page("Sign in")
    browser.sign_in(user.email)
    browser.page("Overview")
    browser.errors()  # what earlier tests left in the browser's log
    yield user
    browser.driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": ""})
    browser.resize(DESKTOP)
    browser.driver.execute_script("sessionStorage.clear(); localStorage.setItem('gw.lang', 'en')")
