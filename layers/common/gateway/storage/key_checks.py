"""What a reservation checks and takes on a key, as transaction items: the key usable and unchanged
since it was read, its credit limit's counter and its rate window's counter. The calling key gets
them, and so does the key that created it (its parent), whose limits bind it too."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.storage import layout
from gateway.storage.errors import RefusalReason

KEY_USABLE = (
    "attribute_exists(kind) AND (attribute_not_exists(revoked) OR revoked = :false) AND disabled = :false"
    " AND kind = :inference"
    " AND (attribute_not_exists(expires_at) OR expires_at > :now) AND version = :version"
)
OWN_TAGS = ("key", "limit", "rate")
PARENT_TAGS = ("parent", "parent_limit", "parent_rate")
PARENT_REFUSALS: dict[str, RefusalReason] = {
    "key_missing": "parent_missing",
    "key_wrong_kind": "parent_missing",
    "key_disabled": "parent_disabled",
    "key_expired": "parent_expired",
    "key_changed": "parent_changed",
}


@dataclass(frozen=True)
class KeyGuard:
    """What the reservation checks on the key, as last read: its version, limit and rate limit."""

    version: int
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
    tags: tuple[str, str, str] = OWN_TAGS,
) -> list[tuple[str, dict[str, Any]]]:
    """(tag, item) pairs: the key's condition check, then its limit and rate counters where it has them."""
    usable, limited, rated = tags
    check = {
        "TableName": table,
        "Key": layout.api_key_key(key_hash),
        "ConditionExpression": KEY_USABLE,
        "ExpressionAttributeValues": {
            ":false": {"BOOL": False},
            ":inference": {"S": "inference"},
            ":now": {"N": str(now)},
            ":version": {"N": str(guard.version)},
        },
        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
    }
    items: list[tuple[str, dict[str, Any]]] = [(usable, {"ConditionCheck": check})]
    if limit_period is not None and guard.limit_headroom is not None:
        ceiling, ttl = guard.limit_headroom, guard.limit_until
        counted = counter(table, layout.key_limit_key(key_hash, limit_period), "used", amount, ceiling, True, ttl)
        items.append((limited, counted))
    if guard.rate_limit is not None and guard.rate_window is not None:
        window, ttl = layout.key_rate_key(key_hash, guard.rate_window), (guard.rate_window + 2) * 60
        items.append((rated, counter(table, window, "count", 1, guard.rate_limit, False, ttl)))
    return items


def key_refusal(key_item: dict[str, Any] | None, now: int, version: int) -> RefusalReason:
    if key_item is None or "kind" not in key_item or key_item.get("revoked"):
        return "key_missing"
    if key_item.get("kind") != "inference":
        return "key_wrong_kind"
    if key_item.get("disabled"):
        return "key_disabled"
    if key_item.get("expires_at") is not None and int(key_item["expires_at"]) <= now:
        return "key_expired"
    if int(key_item.get("version", 0)) != version:
        return "key_changed"
    return "key_missing"


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
