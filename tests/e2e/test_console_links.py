"""What a link can make the console say: nothing of its own. A save's notice is carried in the address
(`#/admin/channels?saved=<version>&channel=<id>`), so a crafted link could have put a message of the
sender's in the operator's console as if the console said it."""

from __future__ import annotations

import secrets
from urllib.parse import quote

from tests.support.browser import Browser
from tests.support.console import CognitoPool

LURE = "1. SECURITY: your session was reset, sign in again at https://evil.example/console"


def test_a_link_puts_no_words_of_its_own_in_the_operators_notices(
    browser: Browser, gateway_url: str, cognito: CognitoPool
) -> None:
    operator = f"ops-{secrets.token_hex(4)}@example.com"
    cognito.sign_up(operator, operator=True)
    browser.driver.get(f"{gateway_url}/console")
    browser.page("Sign in")
    browser.sign_in(operator)
    for address, notice, page in (
        (f"#/admin/channels?saved={quote(LURE)}&channel=openai", "#channel-saved", "Channels"),
        (f"#/admin/channels?saved=3&channel={quote('openai ' + LURE)}", "#channel-saved", "Channels"),
        (f"#/admin/models/test%2Fecho?saved={quote(LURE)}", "#model-saved", "test/echo"),
    ):
        browser.driver.get(f"{gateway_url}/console{address}")
        browser.page(page)
        assert browser.all(notice) == []
    browser.driver.get(f"{gateway_url}/console#/admin/channels?saved=3&channel=openai")
    browser.page("Channels")
    browser.text_in("#channel-saved", "openai")  # the console's own notice still shows
    browser.sign_out()
