"""Channel health from the ledger's attempts: each channel's attempts read newest first, failures (5xx,
timeouts, connection errors, 429) counted, the run of failures from the newest attempt, and the
state a function's own cool-down would give it (three failures running, the newest within 30 s)."""

from __future__ import annotations

from typing import Any

from gateway.clock import iso_from_epoch
from gateway.services.channel_health import summarize

NOW = 1_800_000_000.0


def request(seconds_ago: float, *attempts: tuple[str, int]) -> dict[str, Any]:
    return {
        "created_at": iso_from_epoch(NOW - seconds_ago),
        "attempts": [
            {"provider": "openai", "channel": channel, "http_status": status, "latency_ms": 40 + index,
             "error_code": None if status == 200 else "provider_error"}
            for index, (channel, status) in enumerate(attempts)
        ],
    }  # fmt: skip


def test_three_failures_running_within_the_cool_down_is_cooling() -> None:
    health = summarize(
        [request(5, ("b", 502), ("a", 200)), request(10, ("b", 504), ("a", 200)), request(20, ("b", 429), ("a", 200))],
        NOW,
    )

    assert health["b"]["state"] == "cooling"
    assert (health["b"]["attempts"], health["b"]["failures"], health["b"]["failures_in_a_row"]) == (3, 3, 3)
    assert health["b"]["rate_limited"] == 1
    newest = {"at": iso_from_epoch(NOW - 5), "http_status": 502, "error_code": "provider_error"}
    assert health["b"]["last_failure"] == newest
    assert health["b"]["median_latency_ms"] is None
    assert health["a"]["state"] == "ok"
    assert health["a"]["median_latency_ms"] == 41


def test_the_run_of_failures_counts_from_the_newest_attempt_only() -> None:
    # newest first: a failure after a success is `failing`, not cooling, however many failed before
    health = summarize(
        [request(1, ("c", 500)), request(2, ("c", 200)), request(3, ("c", 500)), request(4, ("c", 500)),
         request(5, ("c", 500))],
        NOW,
    )  # fmt: skip

    assert health["c"]["state"] == "failing"
    assert (health["c"]["failures"], health["c"]["failures_in_a_row"]) == (4, 1)
    assert health["c"]["last"]["http_status"] == 500


def test_failures_older_than_the_cool_down_are_failing_not_cooling() -> None:
    health = summarize([request(45, ("d", 502)), request(50, ("d", 502)), request(55, ("d", 502))], NOW)

    assert health["d"]["state"] == "failing"
    assert health["d"]["failures_in_a_row"] == 3


def test_a_request_s_attempts_are_read_last_first_and_4xx_and_own_keys_are_not_the_channel_s_trouble() -> None:
    # within one request the channel failed first, then answered: its newest attempt succeeded
    health = summarize([request(1, ("e", 502), ("e", 200)), request(2, ("f", 400), ("byok:openai", 502))], NOW)

    assert health["e"]["state"] == "ok"
    assert (health["e"]["attempts"], health["e"]["failures"]) == (2, 1)
    assert health["f"]["state"] == "ok"  # the provider refused the request itself: not the channel's health
    assert "byok:openai" not in health
