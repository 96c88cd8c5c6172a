"""The control plane end to end in a real headless browser: an operator mints top-up codes (shown once,
copied and downloaded), creates a model and raises its prices (a bad price refused beside its field),
adds channels (one of them down, whose health then shows it cooling) and disables them, sets a price
group; a customer redeems a code (the balance rises by exactly its amount; a second try says why and
moves nothing) and finds its requests charged at the new prices, through the new channel, in its
traces. Each new page is photographed, and seen in Chinese, dark, and on a phone."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.keys import Keys

from gateway.money import credits_to_micro
from gateway.services.topup_codes import code_hash
from tests.conftest import aggregated, balance_of, ledger_entry
from tests.integration.test_runtime_catalog import cost
from tests.support.browser import DESKTOP, PHONE, Browser
from tests.support.console import CognitoPool, ConsoleApi
from tests.support.control import Upstream, chat, eventually, unique, upstreams

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Upstream]]:
    yield from upstreams("e2e")


def shown_credits(browser: Browser, selector: str) -> float:
    """The number a card or cell shows (`1,234.5 credits`)."""
    return float(browser.css(selector).text.split()[0].replace(",", ""))


def saved_version(browser: Browser, selector: str, above: int = 0) -> int:
    """The catalog version a save notice names, once it is above `above` (the page is rendered anew)."""
    from selenium.common.exceptions import StaleElementReferenceException

    def read(_: Any) -> int | bool:
        try:
            found = re.search(r"version (\d+)", browser.css(selector).text)
        except StaleElementReferenceException:
            return False
        return int(found.group(1)) if found and int(found.group(1)) > above else False

    return int(browser.wait(read))


def open_page(browser: Browser, page: str, title: str) -> None:
    browser.css(f'a[data-page="{page}"]').click()
    browser.page(title)


def open_page_by_menu(browser: Browser, page: str, title: str) -> None:
    """On a phone: the navigation is behind the menu button."""
    browser.css(".menu").click()
    open_page(browser, page, title)


def row_of(browser: Browser, text: str) -> Any:
    """The first table row that holds `text` (waited for)."""
    return browser.wait(lambda _: next((row for row in browser.all("tbody tr") if text in row.text), False))


def attempts(response: httpx.Response) -> list[tuple[str, int]]:
    """(channel, status) of each upstream attempt of an answered request (none for a refused one)."""
    entry = ledger_entry(response.headers["x-trace-id"]) if response.status_code == 200 else None
    return [(attempt["channel"], attempt["http_status"]) for attempt in entry["attempts"]] if entry else []


def shown(micro: int) -> str:
    """Credits as the page writes them (up to 6 decimal places, no trailing zeros)."""
    return f"{(Decimal(micro) / 1_000_000).normalize():f}"


def test_an_operator_mints_codes_reprices_a_model_and_routes_channels_for_a_customer(
    browser: Browser, gateway_url: str, cognito: CognitoPool, upstream: Any, servers: dict[str, Upstream],
    gateway_env: dict[str, str], tmp_path: Path,
) -> None:  # fmt: skip
    # Given a customer with a key, and an operator
    customer = cognito.sign_up(f"buyer-{secrets.token_hex(4)}@example.com")
    api = ConsoleApi(gateway_url, customer)
    account_id = api.ok(api.get("/me"))["account"]["account_id"]
    key = api.ok(api.post("/keys", {"name": "shop"}), 201)["key"]
    operator = f"ops-{secrets.token_hex(4)}@example.com"
    cognito.sign_up(operator, operator=True)
    browser.driver.get(f"{gateway_url}/console")
    browser.page("Sign in")
    browser.sign_in(operator)

    # The operator mints three codes of 4.5 credits; they are shown once, copied and downloaded
    open_page(browser, "admin/codes", "Top-up codes")
    batch = f"e2e-{secrets.token_hex(3)}"
    minting = {"#mint-credits": "4.5", "#mint-count": "3", "#mint-days": "30", "#mint-batch": batch}
    for selector, value in minting.items():
        browser.fill(selector, value)
    browser.css("#mint-submit").click()
    codes = browser.css("#minted-codes").get_attribute("value").split()
    assert len(codes) == 3
    assert all(code.startswith("gwc-") for code in codes)
    browser.driver.execute_cdp_cmd(
        "Browser.grantPermissions",
        {"origin": gateway_url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]},
    )
    browser.css("#copy-codes").click()
    browser.text_in("#copy-codes", "Copied")
    assert browser.driver.execute_async_script("navigator.clipboard.readText().then(arguments[0])").split() == codes
    browser.driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)})
    browser.css("#download-codes").click()
    downloaded = eventually(lambda: next(iter(tmp_path.glob(f"{batch}.txt")), None))
    assert eventually(lambda: downloaded.read_text().split() == codes)
    browser.shot("admin-codes-minted")
    browser.button("Close", "dialog[open]").click()
    browser.page("Top-up codes")
    rows = [row.text for row in browser.all("tbody tr") if batch in row.text]
    assert len(rows) == 3
    assert all("Active" in row for row in rows)
    assert not any(code in browser.driver.page_source for code in codes)  # shown once: gone from the page
    browser.shot("admin-codes")

    # By keyboard, it disables the third code: the list says so (the customer's try is refused below)
    third = code_hash(codes[2])[:10]
    switch = row_of(browser, third).find_element("xpath", ".//button[normalize-space()='Disable']")
    browser.driver.execute_script("arguments[0].focus()", switch)
    browser.keys(Keys.ENTER)
    browser.wait(lambda _: "Disabled" in row_of(browser, third).text)
    browser.wait(lambda _: browser.focused().text == "Enable")  # the focus stays on that code's switch
    assert browser.focused().get_attribute("data-focus-key") == f"code:{code_hash(codes[2])}"

    # The operator creates a model on the fake upstream at 1 and 2 credits per 1M tokens
    model_id = unique("e2e/echo")
    open_page(browser, "admin/models", "Models and prices")
    browser.css("#add-model").click()
    browser.page("New model")
    for selector, value in (
        ("#model-id", model_id), ("#model-display-name", "E2E echo"), ("input[name=owned_by]", "e2e"),
        ("#model-context", "8192"), ("#model-max-output", "100"), ("#price-input", "1"), ("#price-output", "2"),
    ):  # fmt: skip
        browser.fill(selector, value)
    browser.button("Add a provider").click()
    browser.css('select[name="providers.0.provider"] option[value="fake"]').click()
    browser.fill('input[name="providers.0.model"]', "echo")
    browser.css("#save-model").click()
    browser.page(model_id)
    created = saved_version(browser, "#model-saved")
    first = eventually(lambda: (r := chat(gateway_url, key, model_id)).status_code == 200 and r)
    before = ledger_entry(first.headers["x-trace-id"])
    assert before is not None
    assert before["credits"] == cost(before, "1", "2")
    assert before["catalog_version"] >= created

    # It raises the prices; a negative cached price is refused beside its field, which gets the focus
    browser.fill("#price-input", "10")
    browser.fill("#price-output", "20")
    browser.fill("#price-cached_input", "-1")
    browser.css("#save-model").click()
    browser.text_in("#model-form .field-error", "pricing.cached_input")
    assert browser.focused().get_attribute("id") == "price-cached_input"
    assert browser.css("#price-cached_input").get_attribute("aria-invalid") == "true"
    browser.shot("admin-model-error")
    (refused,) = browser.errors()  # the browser reports the refused change: the one error of this page
    assert "admin/models/" in refused
    assert "status of 400" in refused
    browser.fill("#price-cached_input", "1")
    browser.css("#save-model").click()
    repriced_at = saved_version(browser, "#model-saved", above=created)
    assert not browser.all(".field-error")
    browser.shot("admin-model")

    # The list of models shows its new prices
    open_page(browser, "admin/models", "Models and prices")
    browser.fill("#model-filter", "echo")
    assert "10 / 20" in row_of(browser, model_id).text
    browser.shot("admin-models")

    # The customer's next request, once the gateway has that catalog version, is charged at the new prices
    def repriced() -> dict[str, Any] | None:
        entry = ledger_entry(chat(gateway_url, key, model_id).headers["x-trace-id"])
        return entry if entry and entry["catalog_version"] >= repriced_at else None

    after = eventually(repriced)
    assert after["credits"] == cost(after, "10", "20")

    # The operator adds a channel to its own upstream and a channel nobody listens at, tried first
    up, down = unique("e2e-up"), unique("e2e-down")
    for channel_id, url, secret, priority in (
        (up, servers["e2e"].url, servers["e2e"].key, "10"),
        (down, gateway_env["DOWN_BASE_URL"], "sk-nobody-listens", "20"),
    ):
        open_page(browser, "admin/channels", "Channels")
        browser.css("#add-channel").click()
        browser.page("New channel")
        browser.fill("#channel-id", channel_id)
        browser.css('#channel-provider option[value="fake"]').click()
        browser.fill("#channel-base-url", url)
        browser.fill("#channel-key", secret)
        browser.css(f'input[name=models][value="{model_id}"]').click()
        browser.fill("#channel-priority", priority)
        if channel_id == up:
            browser.shot("admin-channel")
        browser.css("#save-channel").click()
        browser.page("Channels")
        browser.text_in("#channel-saved", channel_id)
        assert secret not in browser.driver.page_source  # write-only

    def through_both() -> httpx.Response | None:
        response = chat(gateway_url, key, model_id)
        return response if attempts(response) == [(down, 502), (up, 200)] else None

    routed = eventually(through_both)
    for _ in range(2):
        assert attempts(chat(gateway_url, key, model_id))[-1] == (up, 200)
    assert servers["e2e"].keys_seen() == {f"Bearer {servers['e2e'].key}"}

    # Its health: the down channel failed three times running and is cooling down; the new one answers
    aggregated()  # health reads the accounts active today, which the usage aggregator records
    browser.driver.refresh()
    browser.page("Channels")
    assert "Cooling down" in row_of(browser, down).text
    assert "3 attempts, 3 failed" in row_of(browser, down).text
    assert "Healthy" in row_of(browser, up).text
    browser.shot("admin-channels")

    # The operator disables both: the customer's requests go back to the provider's own channel
    for channel_id in (down, up):
        row_of(browser, channel_id).find_element("xpath", ".//button[normalize-space()='Disable']").click()
        browser.wait(lambda _, channel=channel_id: "Disabled" in row_of(browser, channel).text)
    assert eventually(lambda: attempts(chat(gateway_url, key, model_id)) == [("fake", 200)])

    # A price group, set on the customer's account
    open_page(browser, "admin/groups", "Price groups")
    group = unique("e2e-half")
    browser.fill("#group-name", group)
    browser.fill("#group-ratio", "0.5")
    browser.fill("#group-note", "half price")
    browser.css("#save-group").click()
    browser.text_in("main table", group)
    browser.shot("admin-groups")
    browser.driver.get(f"{gateway_url}/console#/admin/accounts/{account_id}")
    browser.page(customer.email)
    browser.css(f'#account-group option[value="{group}"]').click()
    browser.button("Save", "#price-group").click()
    browser.text_in("main table", "Account's group set")
    operators_api = ConsoleApi(gateway_url, cognito.sign_in(operator))
    assert operators_api.ok(operators_api.get(f"/admin/accounts/{account_id}"))["profile"]["group"] == group

    # Every change is in the operator log, with what it changed and never a secret
    open_page(browser, "admin/log", "Operator log")
    log = browser.css("main table").text
    done = ("Codes minted", "Model created", "Model changed", "Channel added", "Channel changed", "Price group set")
    for words in done:
        assert words in log, words
    assert 'pricing.input="10"' in log
    assert "api_key (replaced)" in log
    assert "enabled=false" in log
    assert "Code disabled" in log
    assert "count=3, expires_at=" in log
    assert 'expires_at="' not in log  # the minting's expiry written as a date of the page's language
    assert servers["e2e"].key not in browser.driver.page_source
    browser.shot("admin-log-control")

    # In Chinese and dark, then on a phone
    browser.css("#language").click()
    browser.page("操作日志")
    assert "api_key（已更换）" in browser.css("main table").text  # noqa: RUF001 (the page's own words)
    browser.css("#theme").click()
    browser.css("#theme").click()
    open_page(browser, "admin/channels", "渠道")
    browser.shot("admin-channels-zh-dark")
    browser.resize(PHONE)
    browser.driver.get(f"{gateway_url}/console#/admin/models/{model_id}")
    browser.page(model_id)
    browser.shot("admin-model-phone-zh-dark")
    browser.fill("#price-cached_input", "-1")  # a refusal beside its field, led in Chinese
    browser.css("#save-model").click()
    browser.text_in("#model-form .field-error", "该项的值无效")
    (refused,) = browser.errors()
    assert "status of 400" in refused
    open_page_by_menu(browser, "admin/codes", "充值码")
    browser.shot("admin-codes-phone-zh-dark")
    browser.resize(DESKTOP)
    browser.css("#language").click()
    browser.text_in("#language", "中文")  # the page in English again: its button offers Chinese
    browser.page("Top-up codes")
    browser.css("#theme").click()
    assert browser.errors() == []
    browser.sign_out()

    # The customer redeems a code: its balance rises by exactly the code's amount
    browser.sign_in(customer.email)
    browser.page("Overview")
    before_balance = balance_of(account_id)
    browser.fill("#redeem-code", codes[0])
    browser.keys(Keys.ENTER)
    browser.text_in("#redeem-done", "Added 4.5 credits")
    assert balance_of(account_id) == before_balance + credits_to_micro("4.5")
    assert shown_credits(browser, "#balance .card-value") == balance_of(account_id) / 1_000_000
    browser.shot("overview-redeemed")

    # The same code again: it says why, and nothing moves
    browser.fill("#redeem-code", codes[0])
    browser.css("#redeem-submit").click()
    browser.text_in("#redeem-error", "This top-up code has already been redeemed.")
    assert balance_of(account_id) == before_balance + credits_to_micro("4.5")
    browser.shot("overview-redeem-error")
    browser.fill("#redeem-code", codes[2])
    browser.keys(Keys.ENTER)
    browser.text_in("#redeem-error", "This top-up code has been disabled by the operator.")
    assert balance_of(account_id) == before_balance + credits_to_micro("4.5")
    refusals = browser.errors()
    assert len(refusals) == 2
    assert all("console/api/topup" in refused and "status of 400" in refused for refused in refusals)

    # Its traces: the repriced request at its new price, and the one that fell back, with both attempts
    open_page(browser, "traces", "Traces")
    assert shown(after["credits"]) in row_of(browser, after["trace_id"]).text
    browser.driver.get(f"{gateway_url}/console#/traces/{routed.headers['x-trace-id']}")
    browser.page("Request")
    tried = browser.css("main table").text
    assert "502" in tried
    assert "200" in tried
    browser.shot("trace-fallback")
    assert browser.errors() == []
    browser.sign_out()
