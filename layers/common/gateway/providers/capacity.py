"""Per warm process: channels found at their per-minute cap, skipped until their minute ends.

The table decides whether a channel is full (its window's counters, checked in the reservation's
transaction or by a fallback's conditional update); this only remembers the answer, so a process
asks at most once per full channel per minute."""

from __future__ import annotations

from gateway import clock
from gateway.providers.errors import UpstreamFailure

_full_until: dict[str, float] = {}  # channel id -> epoch seconds when its window ends


class ChannelFull(UpstreamFailure):
    """A capped channel at its per-minute cap: not called, and not a failure of its health. Answered
    429 `provider_rate_limited` when no other candidate answers."""

    def __init__(self, channel: str, retry_after: int) -> None:
        super().__init__(f"the channel {channel} is at its per-minute cap", status=429, retry_after=str(retry_after))
        self.channel = channel


def mark_full(channel: str, until_epoch: float) -> None:
    _full_until[channel] = until_epoch


def full(channel: str) -> bool:
    until = _full_until.get(channel)
    if until is None:
        return False
    if until <= clock.now():
        _full_until.pop(channel, None)
        return False
    return True


def reset() -> None:
    _full_until.clear()
