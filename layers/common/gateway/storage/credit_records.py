"""The records of credits: a hold (`Reservation`) and what a request cost and how it went
(`LedgerEntry`), as storage/credits.py writes and reads them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.storage import layout


@dataclass(frozen=True)
class Reservation:
    trace_id: str
    account_id: str
    key_hash: str
    key_prefix: str
    model: str
    amount: int  # micro-credits held
    created_at: str
    expires_at: int  # epoch seconds; after this it is released (or settled by the sweeper)
    limit_period: str | None = None  # the key-limit period the amount also counts against
    parent_hash: str | None = None  # the key that created the calling key: its limit counts the amount too
    parent_limit_period: str | None = None
    shard: int = 0  # the balance shard that holds it
    recorded: bool = False  # a reservation item keeps it (image tasks); else it is counted in its window
    # The terms the hold was priced on (recorded, and settled on by the same process: see services/pricing.py)
    catalog_version: int | None = None  # the runtime catalog's version the prices came from
    price_ratio: str | None = None  # the account's price group ratio (times the own-key fee), as a decimal
    byok: bool = False  # routed to the account's own provider key
    profile_version: int = 0  # the account profile (price group, own keys) it was priced for: checked
    channel: str | None = None  # the capped channel whose per-minute window counts this request
    # The ledger entry of an answer whose settlement could not be written: the sweeper charges it.
    pending: dict[str, Any] | None = None

    @property
    def window(self) -> int:
        return layout.hold_window(self.expires_at)

    @classmethod
    def from_item(cls, item: dict[str, Any], *, recorded: bool) -> Reservation:
        values = {name: item[name] for name in cls.__dataclass_fields__ if name in item}
        return cls(**{**values, "recorded": recorded})


@dataclass(frozen=True)
class LedgerEntry:
    """One request's record: what it cost and how it went (the request trace)."""

    trace_id: str
    account_id: str
    key_hash: str
    key_prefix: str
    model: str
    provider: str | None
    endpoint: str
    status: str  # success | error | expired
    http_status: int
    error_code: str | None
    prompt_tokens: int
    completion_tokens: int
    credits: int  # micro-credits charged
    reserved: int  # micro-credits that were held
    latency_ms: int
    upstream_latency_ms: int | None
    ttft_ms: int | None
    stream: bool
    usage_estimated: bool
    created_at: str
    day: str
    attempts: tuple[dict[str, Any], ...] = ()  # each upstream attempt: provider, http_status, latency_ms, error_code
    units: dict[str, Any] | None = None  # media billed in their own units: images, characters, audio_seconds
    routing_strategy: str | None = None  # auto, vendor or provider_preferences (None: not recorded)
    user: str | None = None  # the end user the client named (OpenAI `user`, Anthropic `metadata.user_id`)
    metadata: dict[str, str] | None = None  # the client's tags (OpenAI / OpenRouter `metadata`)
    channel: str | None = None  # the upstream channel that answered
    catalog_version: int | None = None
    price_ratio: str | None = None
    byok: bool = False
