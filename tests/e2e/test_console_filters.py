"""The usage and traces filters: a refused range is said under the filters, which stay to correct it;
and their days are UTC days, as the times the pages show are UTC times, each saying so."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.support.browser import Browser
from tests.support.console import ConsoleApi, ConsoleUser, answered_request

pytestmark = pytest.mark.timeout(300)


def set_dates(browser: Browser, date_from: str, date_to: str) -> None:
    for name, value in (("date_from", date_from), ("date_to", date_to)):
        browser.driver.execute_script(
            "document.querySelector(`main input[name=${arguments[0]}]`).value = arguments[1]", name, value
        )


def test_the_browser_refuses_a_range_before_asking_and_keeps_the_filters(
    browser: Browser, customer: ConsoleUser
) -> None:
    for link, title in (("usage", "Usage"), ("traces", "Traces")):
        browser.css(f'a[data-page="{link}"]').click()
        browser.page(title)
        address = browser.driver.current_url

        # From after To: said under the filters, nothing asked
        set_dates(browser, "2026-12-05", "2026-11-01")
        browser.button("Apply").click()
        assert browser.text_in("#filter-error", "From must not be after To.")
        assert browser.driver.current_url == address
        browser.shot(f"{link}-range-checked")

        # More than 366 days
        set_dates(browser, "2025-01-01", "2026-01-02")
        browser.button("Apply").click()
        assert browser.text_in("#filter-error", "A range spans at most 366 days.")
        assert browser.driver.current_url == address

        # Corrected, the filters apply and the error is gone
        set_dates(browser, "2025-01-01", "2026-01-01")
        browser.button("Apply").click()
        browser.wait(lambda _: "date_to=2026-01-01" in browser.driver.current_url)
        browser.page(title)
        assert all(not error.text for error in browser.all("#filter-error"))


@pytest.mark.parametrize(
    ("address", "refusal"),
    [
        ("usage?date_from=2026-12-05&date_to=2026-11-01", "date_from is after date_to."),
        ("traces?date_from=2024-01-01&date_to=2026-01-01", "A range spans at most 366 days."),
    ],
)
def test_a_range_the_api_refuses_is_said_under_the_filters(
    browser: Browser, gateway_url: str, customer: ConsoleUser, address: str, refusal: str
) -> None:
    # Given an address (a link, a bookmark) whose range the API refuses
    browser.driver.get(f"{gateway_url}/console#/{address}")

    # Then the page keeps its heading and filters, with the range as given, and the refusal under them
    browser.page("Usage" if address.startswith("usage") else "Traces")
    alert = browser.text_in("main .alert", refusal)
    date_from = browser.css("main input[name=date_from]")
    assert date_from.get_attribute("value") == address.split("date_from=")[1][:10]
    assert browser.driver.execute_script(
        "return arguments[0].compareDocumentPosition(arguments[1]) & Node.DOCUMENT_POSITION_FOLLOWING", date_from, alert
    ), "the refusal is shown under the filters"
    browser.shot(f"{address.split('?')[0]}-range-refused")


def test_trace_times_are_utc_as_the_days_that_filter_them(
    browser: Browser, gateway_url: str, customer: ConsoleUser, upstream: Any
) -> None:
    # Given a request made now, and a browser in a time zone whose day is not UTC's
    api = ConsoleApi(gateway_url, customer)
    trace_id = answered_request(gateway_url, customer, "tz")
    created = datetime.fromisoformat(api.ok(api.get(f"/traces/{trace_id}"))["data"]["created_at"])
    zone = "Pacific/Kiritimati" if created.hour >= 10 else "Pacific/Pago_Pago"  # UTC+14, UTC-11
    assert created.astimezone(ZoneInfo(zone)).date() != created.date()
    browser.driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": zone})

    # When the customer lists the traces
    browser.driver.get("about:blank")
    browser.driver.get(f"{gateway_url}/console#/traces")
    browser.page("Traces")
    browser.text_in("tbody", trace_id)
    browser.shot("traces-utc")

    # Then the request's time is shown in UTC and says so, as the filters do
    shown = " ".join(browser.css("tbody tr td").text.replace("\u202f", " ").split())
    assert datetime.strptime(shown, "%b %d, %Y, %I:%M %p UTC").replace(tzinfo=UTC) == created.replace(
        second=0, microsecond=0
    )
    assert [label.text for label in browser.all("main form label")][-2:] == ["From (UTC)", "To (UTC)"]

    # And filtering by the day shown finds it
    day = created.date().isoformat()
    set_dates(browser, day, day)
    browser.button("Apply").click()
    browser.wait(lambda _: f"date_to={day}" in browser.driver.current_url)
    browser.page("Traces")
    browser.text_in("tbody", trace_id)

    # And so does its page, in Chinese too
    browser.driver.find_element("link text", trace_id).click()
    browser.page(f"Request {trace_id}")
    assert browser.css("dl.facts div dd").text.endswith(" UTC")
    browser.css("#language").click()
    browser.page(f"请求 {trace_id}")
    assert browser.css("dl.facts div dd").text.endswith(" UTC")
    browser.css('a[data-page="usage"]').click()
    browser.page("用量")
    assert "（UTC）" in browser.css("main form").text  # noqa: RUF001 (the page's own words)
    assert "UTC" in browser.css("figure figcaption").text
