"""What this process last saw of each limited key's use of its credit limit, as shards.py knows
balances: a key known to have a hold `SPECULATE_COVER` times over below its limit (within
`KNOWN_SECONDS`) is one whose hold will almost surely not be refused for its limit, so its request may
start the upstream call while the hold is written (services/speculation.py).

Learned from the key's read (its limit counter is read with its gate). A speculative hold is counted
when it starts (`claim`: concurrent requests of this process see it at once) and every hold of this
process again once written (`took`), so the estimate only errs high; a settlement giving back part of
a hold is not seen until the next read. Other processes' holds are not seen: a hold refused for the
limit stops this process speculating for the key for `KNOWN_SECONDS`, whatever reads it meets
meanwhile (billing/cooling.py). The reserve transaction checks the limit itself, whatever this says.
"""

from __future__ import annotations

import time

from gateway import periods
from gateway.auth.authenticate import LimitRead, Principal
from gateway.billing.cooling import CoolDowns
from gateway.billing.shards import KNOWN_SECONDS, SPECULATE_COVER

_KNOWN_LIMIT = 10_000

_known: dict[str, LimitRead] = {}  # key hash -> its counter, as read or since raised by own holds
_cooling = CoolDowns(KNOWN_SECONDS)  # keys a hold was refused for the limit of


def claim(principal: Principal, amount: int, moment: float) -> bool:
    """Whether the key's limit is known to leave room for `amount` SPECULATE_COVER times over in the
    period of `moment`; if so, the hold is counted now. A key without a limit always has room."""
    key = principal.key
    if key.limit is None:
        return True
    period = periods.period_of(key.limit_reset, moment)
    _learn(key.key_hash, principal.limit)
    if _cooling.active(key.key_hash):
        return False
    known = _known.get(key.key_hash)
    if known is None or known.period != period or time.monotonic() - known.at >= KNOWN_SECONDS:
        return False
    if key.limit - known.used < SPECULATE_COVER * amount:
        return False
    took(key.key_hash, period, amount)
    return True


def took(key_hash: str, period: str | None, amount: int) -> None:
    """This process's own hold was counted against the key's limit in `period`."""
    known = _known.get(key_hash)
    if known is not None and known.period == period:
        _known[key_hash] = LimitRead(known.period, known.used + amount, known.at)


def refused(key_hash: str) -> None:
    """A hold was refused for the key's limit: no speculation for it for KNOWN_SECONDS."""
    _cooling.start(key_hash)


def forget_all() -> None:
    _known.clear()
    _cooling.clear()


def _learn(key_hash: str, read: LimitRead | None) -> None:
    """A read newer than what this process knows replaces it (it counts every hold written before it)."""
    if read is None:
        return
    known = _known.get(key_hash)
    if known is None or known.at < read.at:
        if len(_known) >= _KNOWN_LIMIT and known is None:
            _known.clear()
        _known[key_hash] = read
