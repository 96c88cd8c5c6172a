"""Per warm Lambda: a provider that keeps failing is skipped for a short cool-down; how fast each
provider answers (a moving average, for OpenRouter's `provider.sort` by latency or throughput)."""

from __future__ import annotations

import time
from dataclasses import dataclass

FAILURES_TO_COOL = 3
COOL_DOWN_SECONDS = 30.0
LATENCY_WEIGHT = 0.2  # of the newest answer in the moving average


@dataclass
class _State:
    failures: int = 0
    cool_until: float = 0.0


_states: dict[str, _State] = {}
_latencies: dict[str, float] = {}  # seconds to an answer (or a stream's first event), moving average


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


def answered_in(provider: str, seconds: float) -> None:
    previous = _latencies.get(provider)
    _latencies[provider] = seconds if previous is None else previous + LATENCY_WEIGHT * (seconds - previous)


def latency(provider: str) -> float | None:
    """The provider's moving-average time to answer in this process, None before its first answer."""
    return _latencies.get(provider)


def reset() -> None:
    _states.clear()
    _latencies.clear()
