"""The single-table layout: every partition and sort key is built here.

account       pk ACCOUNT#{id}         sk ACCOUNT      (name, granted, shards, gate; no balance of its own)
grant         pk ACCOUNT#{id}         sk TOPUP#{iso}#{id}     (credits added: initial grant, top-up; `source`)
release       pk ACCOUNT#{id}         sk RELEASE#{window}#{shard}  (holds of requests that never settled, refunded)
balance shard pk BALANCE#{id}#{n}     sk BALANCE      gsi3 HOLDS#{window}#{k} / {id}#{n}   (keys only)
                                                      (balance, held by expiry window, charged by day, gate)
pending       pk PENDING#{id}#{n}     sk {window}#{trace}      (a charge whose settlement failed: the sweeper's)
api key       pk KEY#{sha256}         sk KEY          gsi1 ACCOUNT#{id}#KEYS / {iso}#{sha256}
key limit     pk KEY#{sha256}         sk LIMIT#{period}       (credits held+charged in a limit period)
key rate      pk KEY#{sha256}         sk RATE#{minute}        (requests in a one-minute window)
reservation   pk RESERVATION#{trace}  sk RESERVATION  gsi1 RESERVATIONS#{shard} / {expires:010d}#{trace}
ledger/trace  pk TRACE#{trace}        sk TRACE        gsi1 ACCOUNT#{id}#TRACES#{0-3} / {iso}#{trace}
                                                      gsi2 KEY#{sha256}#TRACES#{0-3} / {iso}#{trace}
daily usage   pk USAGE#{account}      sk {day}#{model}#{key sha256}
                                                      gsi3 ACTIVE#{day}#{shard} / {account}   (keys only)
image task    pk TASK#{task_id}       sk TASK
checkpoint    pk AGGREGATOR#{id}      sk CHECKPOINT   (how far the usage aggregator got: exactly once)
sweeper       pk SWEEPER              sk HOLDS        (the last hold window the sweeper visited)
account (directory entry, on the account item)          gsi3 ACCOUNTS / {name, lower case}#{id}  (keys only)
console user  pk USER#{cognito sub}   sk USER                 (the account a console user acts for)
operator log  pk OPLOG#{action id}    sk OPLOG        gsi1 OPERATOR_LOG / {iso}#{action id}
                                                      gsi2 ACCOUNT#{id}#OPLOG / {iso}#{action id}  (on an account)
platform day  pk PLATFORM#DAYS        sk {day}                (a finished day's totals over every account)
response      pk RESPONSE#{id}        sk RESPONSE     (a stored Responses API answer; its body in S3 when large)
catalog       pk CATALOG              sk VERSION | MODEL#{id} | PROVIDER#{name} | CHANNEL#{id} | GROUP#{name}
                                      | SETTINGS | DEFAULTS
channel rate  pk CHANNEL#{id}         sk RATE#{minute}        (requests and tokens in a one-minute window)
provider key  pk ACCOUNT#{id}         sk BYOK#{provider}      (an account's own upstream key, KMS-encrypted)
top-up code   pk CODE#{sha256}        sk CODE         gsi1 CODES / {iso}#{sha256}
"""

from __future__ import annotations

import zlib

RESERVATION_SHARDS = 8
ACTIVE_SHARDS = 8
HOLD_INDEX_SHARDS = 8
HOLD_WINDOW_SECONDS = 300  # holds are counted by the 5-minute window their reservation expires in
GSI1 = "GSI1"
GSI2 = "GSI2"
GSI3 = "GSI3"
GRANT_PREFIX = "TOPUP#"


def key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def account_key(account_id: str) -> dict[str, dict[str, str]]:
    return key(account_pk(account_id), "ACCOUNT")


def account_pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def grant_key(account_id: str, iso: str, grant_id: str) -> dict[str, dict[str, str]]:
    return key(account_pk(account_id), f"{GRANT_PREFIX}{iso}#{grant_id}")


def api_key_key(key_hash: str) -> dict[str, dict[str, str]]:
    return key(f"KEY#{key_hash}", "KEY")


def api_key_index(account_id: str, created_iso: str, key_hash: str) -> dict[str, str]:
    return {"gsi1pk": f"ACCOUNT#{account_id}#KEYS", "gsi1sk": f"{created_iso}#{key_hash}"}


def key_limit_key(key_hash: str, period: str) -> dict[str, dict[str, str]]:
    return key(f"KEY#{key_hash}", f"LIMIT#{period}")


def key_rate_key(key_hash: str, window: int) -> dict[str, dict[str, str]]:
    return key(f"KEY#{key_hash}", f"RATE#{window}")


def reservation_key(trace_id: str) -> dict[str, dict[str, str]]:
    return key(f"RESERVATION#{trace_id}", "RESERVATION")


def reservation_shard(trace_id: str) -> int:
    return int(trace_id[-2:], 16) % RESERVATION_SHARDS


def reservation_index(trace_id: str, expires_at: int) -> dict[str, str]:
    return {
        "gsi1pk": f"RESERVATIONS#{reservation_shard(trace_id)}",
        "gsi1sk": f"{expires_at:010d}#{trace_id}",
    }


def reservation_shard_pk(shard: int) -> str:
    return f"RESERVATIONS#{shard}"


def trace_key(trace_id: str) -> dict[str, dict[str, str]]:
    return key(f"TRACE#{trace_id}", "TRACE")


TRACE_SHARDS = 4  # index partitions of an account's (and a key's) traces: each takes 1/4 of its writes


def trace_index(account_id: str, key_hash: str, created_iso: str, trace_id: str) -> dict[str, str]:
    """Where a trace is listed: by account (GSI1) and by key (GSI2), each in one of TRACE_SHARDS index
    partitions (by the trace id), so a busy account or key writes no one index partition at every
    request; listings merge them (storage/trace_listing.py)."""
    shard = zlib.crc32(trace_id.encode()) % TRACE_SHARDS
    return {
        "gsi1pk": account_traces_pk(account_id, shard),
        "gsi1sk": f"{created_iso}#{trace_id}",
        "gsi2pk": key_traces_pk(key_hash, shard),
        "gsi2sk": f"{created_iso}#{trace_id}",
    }


def account_traces_pk(account_id: str, shard: int | None = None) -> str:
    """None: the one partition traces had before they were spread (still listed)."""
    return f"ACCOUNT#{account_id}#TRACES" + (f"#{shard}" if shard is not None else "")


def key_traces_pk(key_hash: str, shard: int | None = None) -> str:
    return f"KEY#{key_hash}#TRACES" + (f"#{shard}" if shard is not None else "")


def account_traces_pks(account_id: str) -> list[str]:
    return [account_traces_pk(account_id, shard) for shard in range(TRACE_SHARDS)] + [account_traces_pk(account_id)]


def key_traces_pks(key_hash: str) -> list[str]:
    return [key_traces_pk(key_hash, shard) for shard in range(TRACE_SHARDS)] + [key_traces_pk(key_hash)]


def usage_pk(account_id: str) -> str:
    return f"USAGE#{account_id}"


def usage_key(account_id: str, day: str, model: str, key_hash: str) -> dict[str, dict[str, str]]:
    return key(usage_pk(account_id), f"{day}#{model}#{key_hash}")


def active_index(account_id: str, day: str) -> dict[str, str]:
    """Where a daily usage item lists its account among the day's active ones. GSI3 projects keys only,
    so the settle transaction's later updates of the same item (same values here) never write to it."""
    return {"gsi3pk": active_pk(day, zlib.crc32(account_id.encode()) % ACTIVE_SHARDS), "gsi3sk": account_id}


def active_pk(day: str, shard: int) -> str:
    return f"ACTIVE#{day}#{shard}"


def task_key(task_id: str) -> dict[str, dict[str, str]]:
    return key(f"TASK#{task_id}", "TASK")


def balance_pk(account_id: str, shard: int) -> str:
    return f"BALANCE#{account_id}#{shard}"


def balance_key(account_id: str, shard: int) -> dict[str, dict[str, str]]:
    """One of an account's balance shards: its own partition, so each takes its share of the writes."""
    return key(balance_pk(account_id, shard), "BALANCE")


def hold_window(expires_at: int) -> int:
    return expires_at // HOLD_WINDOW_SECONDS


def window_end(window: int) -> int:
    """Epoch seconds after which no reservation counted in `window` is still running."""
    return (window + 1) * HOLD_WINDOW_SECONDS


def holds_index(account_id: str, shard: int, window: int) -> dict[str, str]:
    """Where a balance shard is listed under the window of its latest hold (GSI3, keys only): a shard
    that went quiet is found there by the sweeper once that window is over. Unchanged on the shard's
    other writes, so they never write the index."""
    spread = zlib.crc32(f"{account_id}#{shard}".encode()) % HOLD_INDEX_SHARDS
    return {"gsi3pk": holds_pk(window, spread), "gsi3sk": f"{account_id}#{shard}"}


def holds_pk(window: int, spread: int) -> str:
    return f"HOLDS#{window}#{spread}"


def pending_pk(account_id: str, shard: int) -> str:
    return f"PENDING#{account_id}#{shard}"


def pending_key(account_id: str, shard: int, window: int, trace_id: str) -> dict[str, dict[str, str]]:
    return key(pending_pk(account_id, shard), f"{window:010d}#{trace_id}")


def release_key(account_id: str, window: int, shard: int) -> dict[str, dict[str, str]]:
    return key(account_pk(account_id), f"{RELEASE_PREFIX}{window:010d}#{shard:03d}")


RELEASE_PREFIX = "RELEASE#"


def checkpoint_key(name: str) -> dict[str, dict[str, str]]:
    return key(f"AGGREGATOR#{name}", "CHECKPOINT")


def sweeper_key() -> dict[str, dict[str, str]]:
    return key("SWEEPER", "HOLDS")


ACCOUNTS_PK = "ACCOUNTS"
OPERATOR_LOG_PK = "OPERATOR_LOG"
PLATFORM_DAYS_PK = "PLATFORM#DAYS"
NAME_INDEX_CHARS = 200


def account_directory_index(account_id: str, name: str) -> dict[str, str]:
    """Where an account is listed for operators: by its name (lower case, so a prefix finds it) in GSI3,
    which projects keys only, so the balance updates of the hot path never write to it."""
    return {"gsi3pk": ACCOUNTS_PK, "gsi3sk": f"{name.lower()[:NAME_INDEX_CHARS]}#{account_id}"}


def user_key(sub: str) -> dict[str, dict[str, str]]:
    return key(f"USER#{sub}", "USER")


def operator_log_key(action_id: str) -> dict[str, dict[str, str]]:
    return key(f"OPLOG#{action_id}", "OPLOG")


def operator_log_index(account_id: str | None, at_iso: str, action_id: str) -> dict[str, str]:
    """Every action in the whole log (GSI1); an action on an account in that account's too (GSI2)."""
    index = {"gsi1pk": OPERATOR_LOG_PK, "gsi1sk": f"{at_iso}#{action_id}"}
    if account_id:
        index |= {"gsi2pk": account_operator_log_pk(account_id), "gsi2sk": f"{at_iso}#{action_id}"}
    return index


def account_operator_log_pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}#OPLOG"


def platform_day_key(day: str) -> dict[str, dict[str, str]]:
    return key(PLATFORM_DAYS_PK, day)


def response_key(response_id: str) -> dict[str, dict[str, str]]:
    return key(f"RESPONSE#{response_id}", "RESPONSE")


CATALOG_PK = "CATALOG"  # the runtime catalog: one partition, read whole by a Query
CATALOG_VERSION_SK = "VERSION"
PROVIDER_KEY_PREFIX = "BYOK#"
CODES_PK = "CODES"


def catalog_key(sk: str) -> dict[str, dict[str, str]]:
    return key(CATALOG_PK, sk)


def channel_rate_key(channel_id: str, window: int) -> dict[str, dict[str, str]]:
    return key(f"CHANNEL#{channel_id}", f"RATE#{window}")


def provider_key_key(account_id: str, provider: str) -> dict[str, dict[str, str]]:
    return key(account_pk(account_id), f"{PROVIDER_KEY_PREFIX}{provider}")


def code_key(code_hash: str) -> dict[str, dict[str, str]]:
    return key(f"CODE#{code_hash}", "CODE")


def code_index(created_iso: str, code_hash: str) -> dict[str, str]:
    return {"gsi1pk": CODES_PK, "gsi1sk": f"{created_iso}#{code_hash}"}
