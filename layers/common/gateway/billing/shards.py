"""Which balance shard a hold takes from, what this process last saw of each, and moving credits
between shards when the one tried cannot cover a hold (storage/balances.py keeps the books).

A hold picks a shard at random, among those this process has not seen short of it, so that a busy
account's writes spread over all of them; one it saw holding the hold `SPECULATE_COVER` times over
(within `KNOWN_SECONDS`) is one the hold will almost surely succeed on, so the request may start its
upstream call while the hold is written (services/speculation.py) -- unless a hold of the account
found a shard short in the last `KNOWN_SECONDS`.
When no shard covers a hold but the account as a whole does, the credits are moved: spread evenly
when the account is rich, gathered into one shard when it runs low.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from gateway.billing.cooling import CoolDowns
from gateway.storage.balances import Shard, split

SPECULATE_COVER = 20  # a shard known to hold this many times the hold: start the upstream meanwhile
KNOWN_SECONDS = 60.0  # how long what this process saw of a shard counts as known
SPREAD_COVER = 4  # spread credits evenly only if each shard then covers the hold this many times
_KNOWN_LIMIT = 10_000

_known: dict[str, dict[int, tuple[int, float]]] = {}  # account -> shard -> (balance, when seen)
_cooling = CoolDowns(KNOWN_SECONDS)  # accounts a hold found a shard of short: no confident holds for a while


@dataclass(frozen=True)
class Choice:
    shard: int
    confident: bool  # known to cover the hold SPECULATE_COVER times over


def observe(account_id: str, shard: int, balance: int) -> None:
    if len(_known) >= _KNOWN_LIMIT and account_id not in _known:
        _known.clear()
    _known.setdefault(account_id, {})[shard] = (balance, time.monotonic())


def observe_all(shards: list[Shard]) -> None:
    for shard in shards:
        observe(shard.account_id, shard.number, shard.balance)


def learn(account_id: str, balances: tuple[int, ...]) -> None:
    """What the key's read saw of the account's shards, for an account this process knows nothing of."""
    if balances and account_id not in _known:
        for shard, balance in enumerate(balances):
            observe(account_id, shard, balance)


def took(account_id: str, shard: int, amount: int) -> None:
    """This process's own hold came off a shard whose new balance it did not see."""
    seen = _known.get(account_id, {}).get(shard)
    if seen is not None:
        _known[account_id][shard] = (seen[0] - amount, seen[1])


def short(account_id: str, shard: int, balance: int) -> None:
    """A hold found the shard short (other processes took from it): as seen, and no hold of the
    account is confident for KNOWN_SECONDS, whatever this process sees meanwhile, so that bursts past
    a balance that settlements keep giving back cannot make speculation fail again and again."""
    observe(account_id, shard, balance)
    _cooling.start(account_id)


def forget(account_id: str) -> None:
    _known.pop(account_id, None)


def forget_all() -> None:
    _known.clear()
    _cooling.clear()


def choose(account_id: str, amount: int, shards: int) -> Choice | None:
    """A shard to try, at random so that a busy account's holds spread over all of them: any shard not
    known to be short of `amount`; None when every one is, so that the shards are read and credits
    moved."""
    now = time.monotonic()
    known = {
        shard: balance
        for shard, (balance, seen) in _known.get(account_id, {}).items()
        if now - seen < KNOWN_SECONDS and shard < shards
    }
    candidates = [shard for shard in range(shards) if known.get(shard, amount) >= amount]
    if not candidates:
        return None
    shard = random.choice(candidates)
    return Choice(shard, not _cooling.active(account_id) and known.get(shard, 0) >= SPECULATE_COVER * amount)


def rebalance(found: list[Shard], amount: int) -> tuple[dict[int, int], int] | None:
    """Moves (shard -> credits added, negative: taken) that leave a shard covering `amount`, and
    that shard; None when the account as a whole cannot cover it."""
    total = sum(shard.balance for shard in found)
    if total < amount or not found:
        return None
    if total // len(found) >= SPREAD_COVER * amount:  # rich: even shares, every shard covers holds
        ordered = sorted(found, key=lambda shard: shard.number)
        shares = split(total, len(ordered))
        moves = {shard.number: share - shard.balance for shard, share in zip(ordered, shares, strict=True)}
        return moves, max(ordered, key=lambda shard: shares[ordered.index(shard)]).number
    target = max(found, key=lambda shard: shard.balance)  # running low: everything into one shard
    moves = {shard.number: -shard.balance for shard in found if shard is not target and shard.balance}
    moves[target.number] = -sum(moves.values())
    return moves, target.number
