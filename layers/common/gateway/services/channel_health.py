"""Channels' health as operators read it in the console: what every function did with each channel
over the last hour, from the ledger (each request's trace lists its upstream attempts, each naming its
channel). A channel's cool-down itself lives in each warm function's memory (providers/health.py),
out of the console's reach; here the same rule is applied to the attempts of all functions together.

Cost: the accounts active today (and yesterday, in the hour after midnight) from the daily index, then
one Query per such account for its last hour's traces (their time and attempts only, at most
`PER_ACCOUNT` of them, the newest)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway import clock
from gateway.config import get_settings
from gateway.providers.health import COOL_DOWN_SECONDS, FAILURES_TO_COOL
from gateway.storage.ledger import LedgerReader
from gateway.storage.stores import stores

WINDOW_SECONDS = 3600
PER_ACCOUNT = 1_000
READERS = 8
OWN_KEY_PREFIX = "byok:"  # an account's own provider key: the customer's, not an operator's channel


@dataclass
class _Channel:
    """One channel's attempts, read newest first."""

    provider: str
    attempts: int = 0
    failures: int = 0
    rate_limited: int = 0
    streak: int = 0  # failures in a row, from the newest attempt
    streak_open: bool = True
    last: dict[str, Any] = field(default_factory=dict)
    last_failure: dict[str, Any] | None = None
    latencies: list[int] = field(default_factory=list)

    def add(self, attempt: dict[str, Any], at: str) -> None:
        failed = _failed(attempt)
        self.attempts += 1
        if not self.last:
            self.last = {"at": at, "http_status": attempt.get("http_status"), "error_code": attempt.get("error_code")}
        if failed:
            self.failures += 1
            self.rate_limited += attempt.get("http_status") == 429
            if self.last_failure is None:
                self.last_failure = {
                    "at": at,
                    "http_status": attempt.get("http_status"),
                    "error_code": attempt.get("error_code"),
                }
            self.streak += self.streak_open
        else:
            self.streak_open = False
            if attempt.get("latency_ms") is not None:
                self.latencies.append(int(attempt["latency_ms"]))

    def view(self, now: float) -> dict[str, Any]:
        latencies = sorted(self.latencies)
        return {
            "provider": self.provider,
            "state": self._state(now),
            "attempts": self.attempts,
            "failures": self.failures,
            "rate_limited": self.rate_limited,
            "failures_in_a_row": self.streak,
            "last": self.last,
            "last_failure": self.last_failure,
            "median_latency_ms": latencies[len(latencies) // 2] if latencies else None,
        }

    def _state(self, now: float) -> str:
        """`cooling`: its newest attempts failed FAILURES_TO_COOL times running, the newest within
        COOL_DOWN_SECONDS (a function would try it last); `failing`: its newest attempt failed; `ok`."""
        recent = self.last_failure is not None and now - _epoch(self.last_failure["at"]) < COOL_DOWN_SECONDS
        if self.streak >= FAILURES_TO_COOL and recent:
            return "cooling"
        return "failing" if self.streak else "ok"


def channel_health(now: float | None = None) -> dict[str, Any]:
    """Each channel that was tried in the last hour: attempts, failures (5xx, timeouts, connection
    errors, 429), failures in a row, the last attempt and the last failure, and its state."""
    moment = clock.now() if now is None else now
    start = moment - WINDOW_SECONDS
    since = clock.iso_from_epoch(start)
    days = sorted({clock.day_from_epoch(start), clock.day_from_epoch(moment)})
    reader, traces = LedgerReader(get_settings().table_name), stores().traces
    with ThreadPoolExecutor(READERS) as pool:
        active = sorted(set().union(*pool.map(reader.active_accounts, days)))
        pages = pool.map(lambda account: traces.attempts_since(account, since, read_limit=PER_ACCOUNT), active)
        requests = sorted((item for page in pages for item in page), key=lambda item: item["created_at"], reverse=True)
    return {
        "since": since,
        "until": clock.iso_from_epoch(moment),
        "accounts_read": len(active),
        "requests_read": len(requests),
        "channels": summarize(requests, moment),
    }


def summarize(requests: list[dict[str, Any]], now: float) -> dict[str, dict[str, Any]]:
    """Each channel's health from requests' traces (`created_at`, `attempts`), newest first."""
    channels: dict[str, _Channel] = {}
    for request in requests:
        for attempt in reversed(request.get("attempts") or ()):  # a request's last attempt is its newest
            name = str(attempt.get("channel") or attempt.get("provider") or "")
            if name and not name.startswith(OWN_KEY_PREFIX):
                channels.setdefault(name, _Channel(str(attempt.get("provider") or name))).add(
                    attempt, request["created_at"]
                )
    return {name: channel.view(now) for name, channel in sorted(channels.items())}


def _failed(attempt: dict[str, Any]) -> bool:
    """The upstream's trouble, as routing counts it: connection errors and timeouts (5xx), 5xx, 429."""
    status = attempt.get("http_status")
    return status is None or int(status) == 429 or int(status) >= 500


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
