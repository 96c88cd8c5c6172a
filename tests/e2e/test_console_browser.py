"""The console end to end in a real headless browser (Debian's chromium): a customer signs up, confirms
the e-mail, signs in, creates a key (shown once, copied), calls the gateway with it and finds the
request in usage and traces; an operator finds the account, tops it up, reads the platform's totals
and the operator log. The page is used by keyboard, in Chinese, in the dark, on a phone. Each page is
photographed (`make screenshots` keeps them in docs/console/)."""

from __future__ import annotations

import secrets

import httpx
import pytest

from gateway.money import credits_to_micro
from tests.conftest import CONSOLE_STARTING_CREDITS, aggregated, balance_of
from tests.support.browser import DESKTOP, PHONE, Browser
from tests.support.console import PASSWORD, CognitoPool

pytestmark = pytest.mark.timeout(600)


def test_a_customer_signs_up_creates_a_key_and_finds_its_requests(
    browser: Browser, gateway_url: str, cognito: CognitoPool, upstream
) -> None:  # type: ignore[no-untyped-def]
    console = f"{gateway_url}/console"
    email = f"e2e-{secrets.token_hex(4)}@example.com"
    browser.driver.get(console)
    browser.page("Sign in")
    browser.shot("sign-in")

    # Sign up by keyboard only: the link, the e-mail, the password, Enter
    from selenium.webdriver.common.keys import Keys

    browser.css("#to-sign-up").send_keys(Keys.ENTER)
    browser.page("Create an account")
    assert browser.focused().tag_name == "h1"
    browser.keys(Keys.TAB, email, Keys.TAB, PASSWORD, Keys.ENTER)
    browser.page("Confirm your e-mail")
    assert email in browser.css("main form").text
    browser.shot("confirm")
    browser.fill("#auth-code", "123456")  # moto's Cognito accepts any code
    browser.css("#auth-submit").click()
    browser.text_in(".notice", "Your e-mail is confirmed")
    assert browser.css("#auth-email").get_attribute("value") == email
    browser.fill("#auth-password", PASSWORD)
    browser.css("#auth-submit").click()

    # The overview: the starting credits, nothing spent
    browser.page("Overview")
    assert browser.css("#who").text == email
    balance = browser.all(".card-value")[0].text
    assert balance == f"{CONSOLE_STARTING_CREDITS} credits"
    browser.shot("overview")

    # Create a key with options; it is shown once, with a copy button
    browser.css('a[data-page="keys"]').click()
    browser.page("API keys")
    browser.css("#create-key").send_keys(Keys.ENTER)  # a dialog that Escape closes, giving focus back
    browser.css("dialog[open] input[name=name]")
    assert browser.focused().get_attribute("name") == "name"
    browser.keys(Keys.ESCAPE)
    browser.wait(lambda _: not browser.all("dialog[open]"))
    assert browser.focused().get_attribute("id") == "create-key"
    browser.css("#create-key").click()
    dialog = "dialog[open]"
    browser.css(f"{dialog} input[name=name]").send_keys("laptop")
    browser.css(f"{dialog} input[name=limit]").send_keys("2")
    browser.css(f"{dialog} select[name=limit_reset] option[value=monthly]").click()
    browser.css(f"{dialog} input[name=rate_limit]").send_keys("60")
    browser.css(f"{dialog} details.allow summary").click()
    browser.css(f'{dialog} input[name=allowed_providers][value="fake"]').click()
    browser.shot("key-create")
    browser.button("Create a key", dialog).click()
    secret = browser.css("#new-key")
    key = secret.get_attribute("value")
    assert key.startswith("sk-gw-")
    browser.driver.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": gateway_url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    browser.css("#copy-new-key").click()
    browser.text_in("#copy-new-key", "Copied")
    copied = browser.driver.execute_async_script("navigator.clipboard.readText().then(arguments[0])")
    assert copied == key
    browser.shot("key-created")
    browser.button("Close", dialog).click()
    browser.page("API keys")
    row = browser.text_in("tbody tr", "laptop")
    assert key not in browser.driver.page_source  # shown once: gone from the page
    assert "60/min" in row.text
    browser.shot("keys")

    # Call the gateway with it: one answer, one upstream failure
    answered = httpx.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "test/echo", "messages": [{"role": "user", "content": "hello"}]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    )
    failed = httpx.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "test/fail-500", "messages": [{"role": "user", "content": "hello"}]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    )
    assert answered.status_code == 200, answered.text
    assert failed.status_code >= 500
    trace_id = answered.headers["x-trace-id"]
    aggregated()  # usage is added from the ledger's stream

    # Usage: two requests, one error, charted by day and by model
    browser.css('a[data-page="usage"]').click()
    browser.page("Usage")
    cards = [card.text for card in browser.all(".card-value")]
    assert cards[:2] == ["2", "1"]
    assert browser.all("figure svg rect"), "no bars drawn"
    assert {"test/echo", "test/fail-500"} <= {t.text for t in browser.all("figure svg text")}
    browser.shot("usage")

    # Traces: both requests, then the answered one by its X-Trace-ID, with its attempt
    browser.css('a[data-page="traces"]').click()
    browser.page("Traces")
    browser.text_in("tbody", trace_id)
    browser.css("form select[name=status] option[value=error]").click()
    browser.button("Apply").click()
    browser.page("Traces")
    browser.wait(lambda _: trace_id not in browser.css("tbody").text and "test/fail-500" in browser.css("tbody").text)
    browser.shot("traces")
    browser.fill("input[name=trace_id]", trace_id)
    browser.button("Open").click()
    browser.page(f"Request {trace_id}")
    assert "test/echo" in browser.css("dl.facts").text
    attempts = browser.css("main table").text
    assert "fake" in attempts
    assert "200" in attempts
    browser.shot("trace")

    # Quick start: snippets with this gateway's base URL
    browser.css('a[data-page="quickstart"]').click()
    browser.page("Quick start")
    assert browser.css("#base-url").get_attribute("value") == gateway_url
    assert f'base_url="{gateway_url}/v1"' in browser.css("#panel-openai pre").text
    browser.css("#tab-openai").send_keys(Keys.ARROW_RIGHT)
    assert browser.focused().get_attribute("id") == "tab-anthropic"
    assert f'base_url="{gateway_url}"' in browser.css("#panel-anthropic pre").text
    browser.shot("quickstart")

    # In Chinese and dark, then on a phone (the navigation behind its menu button)
    browser.css("#language").click()
    browser.page("快速开始")
    browser.css("#theme").click()
    browser.css("#theme").click()  # system -> light -> dark
    assert browser.driver.find_element("css selector", "html").get_attribute("data-theme") == "dark"
    browser.css('a[data-page="usage"]').click()
    browser.page("用量")
    browser.shot("usage-zh-dark")
    browser.resize(PHONE)
    browser.css('a.brand[href="#/overview"]').click()
    browser.page("概览")
    assert not browser.driver.find_element("css selector", "#nav").is_displayed()  # behind the menu button
    browser.css(".menu").click()
    assert browser.css(".menu").get_attribute("aria-expanded") == "true"
    browser.css('a[data-page="keys"]')
    browser.shot("overview-phone-zh-dark")
    browser.resize(DESKTOP)
    browser.css("#language").click()
    browser.page("Overview")
    browser.css("#theme").click()  # dark -> system
    assert browser.errors() == []

    # Signed out, the console forgets the session and asks to sign in again
    browser.sign_out()
    assert browser.driver.execute_script("return sessionStorage.length") == 0


def test_an_operator_finds_an_account_tops_it_up_and_reads_the_platform(
    browser: Browser, gateway_url: str, cognito: CognitoPool, upstream
) -> None:  # type: ignore[no-untyped-def]
    # Given a customer who made a request, and an operator
    customer = cognito.sign_up(f"shop-{secrets.token_hex(4)}@example.com")
    from tests.support.console import ConsoleApi

    api = ConsoleApi(gateway_url, customer)
    account_id = api.ok(api.get("/me"))["account"]["account_id"]
    key = api.ok(api.post("/keys", {"name": "shop"}), 201)["key"]
    assert (
        httpx.post(
            f"{gateway_url}/v1/chat/completions",
            json={"model": "test/echo", "messages": [{"role": "user", "content": "hello"}]},
            headers={"Authorization": f"Bearer {key}"},
            timeout=20,
        ).status_code
        == 200
    )
    operator = f"ops-{secrets.token_hex(4)}@example.com"
    cognito.sign_up(operator, operator=True)
    before = balance_of(account_id)

    # The operator signs in and finds the account by its e-mail
    browser.driver.get(f"{gateway_url}/console")
    browser.page("Sign in")
    browser.sign_in(operator)
    browser.css('a[data-page="admin/accounts"]').click()
    browser.page("Accounts")
    browser.fill("input[name=q]", customer.email[:9])
    browser.button("Search").click()
    browser.text_in("tbody", customer.email)
    assert not browser.button_shown("Load more")  # one match: nothing more to load
    browser.shot("admin-accounts")
    browser.driver.find_element("link text", customer.email).click()
    browser.page(customer.email)

    # Tops it up (confirmed in a dialog); the balance and the account's history show it
    browser.fill("#top-up input[name=credits]", "10")
    browser.fill("#top-up input[name=note]", "welcome credit")
    browser.button("Top up", "#top-up").click()
    browser.button("Confirm", "dialog[open]").click()
    browser.text_in("main table", "welcome credit")
    assert balance_of(account_id) == before + credits_to_micro("10")
    browser.shot("admin-account")

    # The platform's totals by day, and the operator log
    browser.css('a[data-page="admin/platform"]').click()
    browser.page("Platform")
    assert int(browser.all(".card-value")[0].text.replace(",", "")) >= 1
    browser.shot("admin-platform")
    browser.css('a[data-page="admin/log"]').click()
    browser.page("Operator log")
    row = browser.text_in("tbody tr", operator)
    assert "Top-up" in row.text
    assert account_id in row.text
    browser.shot("admin-log")
    assert browser.errors() == []
    browser.sign_out()
