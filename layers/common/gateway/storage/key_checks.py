"""What a reservation takes on a key: its credit limit's counter and its rate window's counter, as
transaction items. The calling key gets them, and so does the key that created it (its parent),
whose limits bind it too. Whether the keys are still usable is not read here: every change to a key
moves its account's gate, which the hold checks on its balance shard (storage/balances.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.storage import layout

OWN_TAGS = ("limit", "rate")
PARENT_TAGS = ("parent_limit", "parent_rate")


@dataclass(frozen=True)
class KeyGuard:
    """What the reservation takes on the key, as last read: its limit and rate limit."""

    limit_headroom: int | None = None  # the key's limit minus this reservation (None: no limit)
    limit_until: int | None = None  # when the limit period ends (TTL of its usage item)
    rate_limit: int | None = None  # requests per minute
    rate_window: int | None = None


def key_items(
    table: str,
    key_hash: str,
    guard: KeyGuard,
    amount: int,
    limit_period: str | None,
    now: int,
    tags: tuple[str, str] = OWN_TAGS,
) -> list[tuple[str, dict[str, Any]]]:
    """(tag, item) pairs: the key's limit and rate counters, where it has them."""
    limited, rated = tags
    items: list[tuple[str, dict[str, Any]]] = []
    if limit_period is not None and guard.limit_headroom is not None:
        ceiling, ttl = guard.limit_headroom, guard.limit_until
        counted = counter(table, layout.key_limit_key(key_hash, limit_period), "used", amount, ceiling, True, ttl)
        items.append((limited, counted))
    if guard.rate_limit is not None and guard.rate_window is not None:
        window, ttl = layout.key_rate_key(key_hash, guard.rate_window), (guard.rate_window + 2) * 60
        items.append((rated, counter(table, window, "count", 1, guard.rate_limit, False, ttl)))
    return items


def counter(
    table: str, key: dict[str, Any], name: str, amount: int, ceiling: int, inclusive: bool, ttl: int | None
) -> dict[str, Any]:
    """ADD `amount` to a counter item unless it already stands above `ceiling` (or at it, if not inclusive)."""
    comparison = "<=" if inclusive else "<"
    update: dict[str, Any] = {
        "TableName": table,
        "Key": key,
        "UpdateExpression": "ADD #counter :amount" + (" SET #ttl = :ttl" if ttl is not None else ""),
        "ConditionExpression": f"attribute_not_exists(#counter) OR #counter {comparison} :ceiling",
        "ExpressionAttributeNames": {"#counter": name, **({"#ttl": "ttl"} if ttl is not None else {})},
        "ExpressionAttributeValues": {
            ":amount": {"N": str(amount)},
            ":ceiling": {"N": str(ceiling)},
            **({":ttl": {"N": str(ttl)}} if ttl is not None else {}),
        },
    }
    return {"Update": update}
