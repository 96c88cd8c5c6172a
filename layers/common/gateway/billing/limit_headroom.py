"""What this process last saw of each limited key's use of its credit limit, as shards.py knows
balances: a key known to have a hold `SPECULATE_COVER` times over below its limit (within
`KNOWN_SECONDS`) is one whose hold will almost surely not be refused for its limit, so its request may
start the upstream call while the hold is written (services/speculation.py).

Learned from the key's read (its limit counter is read with its gate), raised by this process's own
holds. Other processes' holds are not seen, and a settlement giving back part of a hold is not
either: the first is what bounds the cost of speculating (speculation.py), the second only makes the
estimate cautious. The reserve transaction checks the limit itself, whatever this says.
"""

from __future__ import annotations

import time

from gateway.auth.authenticate import LimitRead, Principal
from gateway.billing.shards import KNOWN_SECONDS, SPECULATE_COVER

_KNOWN_LIMIT = 10_000

_known: dict[str, LimitRead] = {}  # key hash -> its counter, as read or since raised by own holds


def covers(principal: Principal, amount: int, period: str) -> bool:
    """Whether the key's limit is known to leave room for `amount` SPECULATE_COVER times over in
    `period` (the current one); a key without a limit always does."""
    limit = principal.key.limit
    if limit is None:
        return True
    _learn(principal.key_hash, principal.limit)
    known = _known.get(principal.key_hash)
    if known is None or known.period != period or time.monotonic() - known.at >= KNOWN_SECONDS:
        return False
    return limit - known.used >= SPECULATE_COVER * amount


def took(key_hash: str, period: str | None, amount: int) -> None:
    """This process's own hold was counted against the key's limit in `period`."""
    known = _known.get(key_hash)
    if known is not None and known.period == period:
        _known[key_hash] = LimitRead(known.period, known.used + amount, known.at)


def forget(key_hash: str) -> None:
    _known.pop(key_hash, None)


def forget_all() -> None:
    _known.clear()


def _learn(key_hash: str, read: LimitRead | None) -> None:
    """A read newer than what this process knows replaces it (it counts every hold written before it)."""
    if read is None:
        return
    known = _known.get(key_hash)
    if known is None or known.at < read.at:
        if len(_known) >= _KNOWN_LIMIT and known is None:
            _known.clear()
        _known[key_hash] = read
