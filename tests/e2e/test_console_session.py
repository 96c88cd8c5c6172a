"""A session that ends, and an address that cannot be read: the console says so and offers a way on,
never a dead end or a page loading for ever."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest

from tests.integration.test_console_tokens import signed
from tests.support.browser import Browser
from tests.support.console import CognitoPool, ConsoleUser

pytestmark = pytest.mark.timeout(300)


def held_session(browser: Browser) -> dict[str, Any]:
    return dict(json.loads(browser.driver.execute_script("return sessionStorage.getItem('gw.session')")))


def with_id_token(browser: Browser, expires_in: int) -> None:
    """The tab's session with an ID token of the pool's own key that expires in `expires_in` seconds."""
    held = held_session(browser)
    claims = jwt.decode(held["idToken"], options={"verify_signature": False})
    now = int(time.time())
    held["idToken"] = signed({**claims, "iat": now - 60, "exp": now + expires_in})
    browser.driver.execute_script("sessionStorage.setItem('gw.session', arguments[0])", json.dumps(held))


def sign_out_everywhere(cognito: CognitoPool, user: ConsoleUser) -> None:
    """AdminUserGlobalSignOut: Cognito refuses the user's refresh tokens from then on (a 400)."""
    cognito.admin().admin_user_global_sign_out(UserPoolId=cognito.user_pool_id, Username=user.email)


def test_an_ended_session_opens_the_sign_in_screen_saying_so(
    browser: Browser, cognito: CognitoPool, customer: ConsoleUser
) -> None:
    # Given a session whose ID token has expired and whose refresh token Cognito refuses
    sign_out_everywhere(cognito, customer)
    with_id_token(browser, -3600)

    # When the page is loaded again
    browser.driver.refresh()

    # Then the sign-in screen says the session ended (not "wrong password"), and signing in works
    browser.page("Sign in")
    assert browser.css(".notice").text == "Your session has ended. Sign in again."
    assert "Wrong e-mail or password" not in browser.css("main").text
    assert browser.driver.execute_script("return sessionStorage.getItem('gw.session')") is None
    browser.shot("session-ended")
    browser.sign_in(customer.email)
    browser.page("Overview")


def test_a_session_that_ends_while_the_page_is_open_says_so_in_chinese_too(
    browser: Browser, cognito: CognitoPool, customer: ConsoleUser
) -> None:
    # Given the console in Chinese, open on an ID token with 130 s left (the page refreshes it in its
    # last 120 s), and the user then signed out everywhere
    browser.css("#language").click()
    browser.page("概览")
    with_id_token(browser, 130)
    loaded = time.monotonic()
    browser.driver.refresh()
    browser.page("概览")
    sign_out_everywhere(cognito, customer)

    # When the customer goes to another page once the token needs its refresh
    time.sleep(max(0.0, 11 - (time.monotonic() - loaded)))
    browser.css('a[data-page="usage"]').click()

    # Then the sign-in screen says the session ended
    browser.page("登录")
    browser.text_in(".notice", "登录已失效，请重新登录。")  # noqa: RUF001 (the page's own words)
    assert "邮箱或密码错误" not in browser.css("main").text
    browser.shot("session-ended-zh")


def test_a_malformed_address_shows_the_overview_instead_of_loading_for_ever(
    browser: Browser, gateway_url: str, customer: ConsoleUser
) -> None:
    browser.driver.get("about:blank")
    browser.driver.get(f"{gateway_url}/console#/traces/gen-%E0%A4%A")  # a link cut in its escape

    browser.page("Overview")
    assert browser.driver.find_element("css selector", "#app").get_attribute("aria-busy") is None
    assert browser.errors() == []
