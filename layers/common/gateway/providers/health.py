"""Per warm Lambda: a provider that keeps failing is skipped for a short cool-down."""

from __future__ import annotations

import time
from dataclasses import dataclass

FAILURES_TO_COOL = 3
COOL_DOWN_SECONDS = 30.0


@dataclass
class _State:
    failures: int = 0
    cool_until: float = 0.0


_states: dict[str, _State] = {}


def failed(provider: str) -> None:
    state = _states.setdefault(provider, _State())
    state.failures += 1
    if state.failures >= FAILURES_TO_COOL:
        state.cool_until = time.monotonic() + COOL_DOWN_SECONDS
        state.failures = 0


def succeeded(provider: str) -> None:
    _states.pop(provider, None)


def cooling(provider: str) -> bool:
    state = _states.get(provider)
    return state is not None and state.cool_until > time.monotonic()


def reset() -> None:
    _states.clear()
