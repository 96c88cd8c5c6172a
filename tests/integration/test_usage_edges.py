"""What customers read back about their money and usage, at its edges: dates before any range can
start are a 400, `used` is what was charged (not what is held for requests in flight), a cursor or a
schema bound written with a non-ASCII digit is not a 500, and "today" is UTC's, as the ledger's days."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.conftest import holds_of, ledger_entry
from tests.support.keys_api import chat


def get(url, key, path, **params):  # type: ignore[no-untyped-def]
    return httpx.get(f"{url}{path}", params=params, headers={"Authorization": f"Bearer {key}"}, timeout=30)


@pytest.mark.parametrize(
    ("path", "params", "param"),
    [
        ("/api/v1/usage", {"date_to": "0001-01-01"}, "date_to"),
        ("/api/usage", {"end_date": "0001-01-01"}, "end_date"),
        ("/api/v1/request-traces", {"date_to": "0001-01-10"}, "date_to"),
        ("/api/v1/request-traces/stats", {"date_to": "0001-01-29"}, "date_to"),
    ],
)
def test_an_early_date_to_is_a_400_not_a_500(gateway_url, make_tenant, path, params, param):
    """date_to alone of 0001-01-01 .. 0001-01-29: its default start (date_to - 29 days) would underflow."""
    tenant = make_tenant("1", kind="management")
    response = get(gateway_url, tenant.key, path, **params)
    assert response.status_code == 400, (response.status_code, response.text[:300])


def test_quota_used_does_not_count_a_request_still_in_flight(gateway_url, upstream, make_tenant):
    """`GET /api/user/self/quota`: a request in flight holds credits; nothing is used until it settles."""
    tenant = make_tenant("10")
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(chat, gateway_url, tenant.key, "test/hold")
        deadline = time.monotonic() + 10
        while upstream.held < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert upstream.held == 1
        held = holds_of(tenant.account_id)
        assert held > 0
        during = get(gateway_url, tenant.key, "/api/user/self/quota").json()
        upstream.release()
        answer = pending.result()
    assert answer.status_code == 200
    entry = ledger_entry(answer.headers["x-trace-id"])
    charged = entry["credits"]
    assert charged < held  # the hold was the bound, the charge is what was used
    after = get(gateway_url, tenant.key, "/api/user/self/quota").json()
    assert after["used"] == pytest.approx(charged / 1e6)
    # while in flight nothing had been charged
    assert during["used"] == pytest.approx(0), (during, held)


def test_a_cursor_numbered_with_a_superscript_digit_is_a_400(gateway_url, make_tenant):
    """ "²" passes str.isdigit(), not int()."""
    tenant = make_tenant("1", kind="management")
    response = get(gateway_url, tenant.key, "/api/v1/request-traces", cursor="²." + "e30=")
    assert response.status_code == 400, (response.status_code, response.text[:200])
    assert response.json()["error"]["param"] == "cursor"


def test_a_gemini_schema_bound_written_with_a_superscript_digit_is_not_a_500(gateway_url, upstream, make_tenant):
    """A bound Gemini's schema writes as a string, "²": not a number, passed on as it came."""
    tenant = make_tenant("1")
    body = {
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
        "generationConfig": {
            "responseMimeType": "application/json",
            "responseSchema": {"type": "ARRAY", "items": {"type": "STRING"}, "maxItems": "²"},
        },
    }
    response = httpx.post(
        f"{gateway_url}/v1beta/models/test/echo:generateContent",
        json=body,
        headers={"x-goog-api-key": tenant.key},
        timeout=20,
    )
    assert response.status_code == 200, response.text[:300]


def test_the_default_range_ends_today_in_utc_whatever_the_process_time_zone(monkeypatch):
    """Off Lambda (make dev, a host not on UTC) the local date is another day: 2026-05-01T06:00Z is
    2026-04-30 at UTC-12."""
    import datetime as dt

    from gateway import clock
    from gateway.services.usage import DateRange

    moment = dt.datetime(2026, 5, 1, 6, 0, tzinfo=dt.UTC).timestamp()
    monkeypatch.setattr(clock, "now", lambda: moment)
    monkeypatch.setenv("TZ", "Etc/GMT+12")
    time.tzset()
    try:
        assert DateRange.parse(None, None).end == clock.day_from_epoch(moment) == "2026-05-01"
    finally:
        monkeypatch.undo()
        time.tzset()
