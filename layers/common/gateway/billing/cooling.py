"""Cool-downs of speculation: once a speculative bet on an account's balance or a key's limit is lost
(its hold refused after the upstream call started), this process makes no such bet on it for a while,
whatever it reads meanwhile, so that a client cannot make it spend prompts on refused requests again
and again (the bound, in services/speculation.py)."""

from __future__ import annotations

import time


class CoolDowns:
    """Names (accounts, key hashes) not to speculate on until a moment of `time.monotonic()`."""

    def __init__(self, seconds: float, limit: int = 10_000) -> None:
        self.seconds = seconds
        self._limit = limit
        self._until: dict[str, float] = {}

    def start(self, name: str) -> None:
        self._until.pop(name, None)  # kept in the order they started, which is the order they end
        while len(self._until) >= self._limit:  # bounded: the ones ended first, then the oldest running
            del self._until[next(iter(self._until))]
        self._until[name] = time.monotonic() + self.seconds

    def active(self, name: str) -> bool:
        return self._until.get(name, 0.0) > time.monotonic()

    def clear(self) -> None:
        self._until.clear()
