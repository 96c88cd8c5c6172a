"""The customer's pages on a phone (390 px): long unbroken words wrap instead of widening the page, and
the charts' labels stay readable."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.support.browser import DESKTOP, PHONE, Browser
from tests.support.console import ConsoleApi, ConsoleUser, answered_request

pytestmark = pytest.mark.timeout(300)


def request(gateway_url: str, user: ConsoleUser) -> str:
    return answered_request(gateway_url, user, "phone")


def test_a_trace_page_fits_a_phone(browser: Browser, gateway_url: str, customer: ConsoleUser, upstream: Any) -> None:
    trace_id = request(gateway_url, customer)
    browser.resize(PHONE)
    browser.driver.get(f"{gateway_url}/console#/traces/{trace_id}")
    browser.page(f"Request {trace_id}")
    browser.shot("trace-phone")
    page, screen = browser.driver.execute_script(
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    assert page <= screen, f"the page is {page}px wide on a {screen}px screen"


def test_revoking_a_long_named_key_fits_a_phone(browser: Browser, gateway_url: str, customer: ConsoleUser) -> None:
    api = ConsoleApi(gateway_url, customer)
    api.ok(api.post("/keys", {"name": "production-backend-" + "eu" * 30}), 201)
    browser.resize(PHONE)
    browser.driver.get(f"{gateway_url}/console#/keys")
    browser.page("API keys")
    revoke = browser.driver.find_element("xpath", "//tbody//button[normalize-space()='Revoke']")
    browser.driver.execute_script("arguments[0].scrollIntoView({block: 'center', inline: 'center'})", revoke)
    revoke.click()
    browser.css("dialog[open]")
    browser.shot("key-revoke-phone")
    inner, box = browser.driver.execute_script(
        "const d = document.querySelector('dialog[open]'); return [d.scrollWidth, d.clientWidth]"
    )
    browser.button("Cancel", "dialog[open]").click()
    assert inner <= box, f"the dialog's content is {inner}px wide in a {box}px dialog"


LABELS = """
return [...document.querySelectorAll('figure svg')].map((chart) =>
  [...chart.querySelectorAll('text')].map((text) => {
    const box = text.getBoundingClientRect();
    return {axis: text.classList.contains('axis'), left: box.left, right: box.right, top: box.top, height: box.height};
  }));
"""


@pytest.mark.parametrize("size", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_usage_charts_labels_are_readable(
    browser: Browser, gateway_url: str, customer: ConsoleUser, upstream: Any, size: tuple[int, int]
) -> None:
    request(gateway_url, customer)
    browser.resize(size)
    browser.driver.get(f"{gateway_url}/console#/usage")
    browser.page("Usage")
    browser.driver.execute_script("document.querySelector('figure').scrollIntoView()")
    browser.shot(f"usage-chart-{'phone' if size == PHONE else 'desktop'}")
    by_day, by_model = browser.driver.execute_script(LABELS)
    heights = [label["height"] for label in by_day + by_model]
    assert min(heights) >= 10, f"chart labels are drawn {min(heights):.1f}px high on a {size[0]}px screen"
    days = sorted((label for label in by_day if label["axis"]), key=lambda label: label["left"])
    assert len(days) >= 4
    assert all(left["right"] <= right["left"] for left, right in itertools.pairwise(days)), "days overlap"
    chart = browser.driver.execute_script("return document.querySelector('figure svg').getBoundingClientRect().right")
    assert max(label["right"] for label in by_day + by_model) <= chart + 1, "a label runs out of its chart"
