"""Top-up codes (redemption codes): the operator mints them, a customer redeems one with their key.

A code is `gwc-` and 26 characters of base32 (130 random bits): shown once, at minting; the table keeps
its SHA-256 only, so operators list, disable and enable codes by that id without ever seeing the text.
Redeeming credits the account once, as a grant entry of the ledger (storage/codes.py), however many
try the same code at the same time."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Sequence
from typing import Any

from gateway import clock
from gateway.errors import InvalidRequest, NotFound
from gateway.formats.wire import MAX_EXPIRY
from gateway.money import MICRO, display
from gateway.services.accounts import account_view, get_account
from gateway.storage.codes import CodeRefused, TopUpCode
from gateway.storage.stores import stores

PREFIX = "gwc-"
MAX_CODES = 1_000  # per minting
MAX_CODE_CREDITS = 1_000_000 * MICRO
MAX_LIFE_SECONDS = int(MAX_EXPIRY.total_seconds())  # an expiry further out would not render (year 10000)
PAGE = 100


def new_code() -> str:
    return PREFIX + base64.b32encode(secrets.token_bytes(17)).decode().rstrip("=").lower()[:26]


def code_hash(code: str) -> str:
    return hashlib.sha256(normalised(code).encode()).hexdigest()


def normalised(code: str) -> str:
    return code.strip().lower()


def mint(
    amount_micro: int,
    count: int,
    *,
    expires_at: int | None = None,
    batch: str = "",
    also: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    """`count` new codes worth `amount_micro` each: their texts (shown this once) and their views.
    `also` (the operator log's entry) is written with the first of them (AlsoRefused: none is)."""
    if not 1 <= amount_micro <= MAX_CODE_CREDITS:
        raise InvalidRequest(
            f"A code is worth more than 0 and at most {display(MAX_CODE_CREDITS):.0f} credits.", param="credits"
        )
    if not 1 <= count <= MAX_CODES:
        raise InvalidRequest(f"Mint 1 to {MAX_CODES} codes at a time.", param="count")
    now = clock.now_epoch()
    if expires_at is not None and not now < expires_at <= now + MAX_LIFE_SECONDS:
        raise InvalidRequest("A code expires in the future, within 100 years.", param="expires_at")
    created = clock.now_iso()
    batch = batch or f"batch-{created[:19]}"
    texts = [new_code() for _ in range(count)]
    codes = [TopUpCode(code_hash(text), amount_micro, "active", created, batch[:64], expires_at) for text in texts]
    stores().codes.create(codes, also=also)
    return {"codes": texts, "data": [code_view(code) for code in codes]}


def list_codes(cursor: str | None = None, limit: int = PAGE) -> dict[str, Any]:
    """Codes, newest first, without their texts; `next_cursor` (the last code's id) pages on."""
    after = None
    if cursor:
        after = stores().codes.get(cursor) if is_code_id(cursor) else None
        if after is None:
            raise InvalidRequest("`cursor` is not a code id of this listing.", param="cursor")
    codes, more = stores().codes.page(max(1, min(limit, PAGE)), after)
    return {"data": [code_view(code) for code in codes], "next_cursor": codes[-1].code_hash if more and codes else None}


def get_code(code_id: str) -> dict[str, Any]:
    found = stores().codes.get(code_id) if is_code_id(code_id) else None
    if found is None:
        raise NotFound("No such top-up code.")
    return code_view(found)


def set_disabled(code_id: str, disabled: bool, *, also: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    found = stores().codes.set_disabled(code_id, disabled, also=also) if is_code_id(code_id) else None
    if found is None:
        raise NotFound("No such top-up code, or it was redeemed already.")
    return code_view(found)


def redeem(account_id: str, code: str) -> dict[str, Any]:
    """Credit the code to the account, once. Answers the credits added and the account after it."""
    text = normalised(code) if isinstance(code, str) else ""
    if not text.startswith(PREFIX) or not 8 <= len(text) <= 64:
        raise _refused("unknown")
    get_account(account_id)
    found = stores().codes.get(code_hash(text))
    if found is None:
        raise _refused("unknown")
    try:
        stores().codes.redeem(
            found, account_id, grant_id=secrets.token_hex(6), at_iso=clock.now_iso(), now=clock.now_epoch()
        )
    except CodeRefused as refused:
        if refused.reason == "account_missing":
            raise NotFound(f"No account {account_id}.") from refused
        raise _refused(refused.reason) from refused
    return {
        "credited": display(found.amount),
        "credited_micro": found.amount,
        "account": account_view(get_account(account_id)),
    }


def code_view(code: TopUpCode) -> dict[str, Any]:
    return {
        "id": code.code_hash,
        "credits": display(code.amount),
        "credits_micro": code.amount,
        "status": "expired" if code.status == "active" and _expired(code) else code.status,
        "batch": code.batch,
        "created_at": code.created_at,
        "expires_at": clock.iso_from_epoch(code.expires_at) if code.expires_at is not None else None,
        "redeemed_by": code.redeemed_by,
        "redeemed_at": code.redeemed_at,
    }


def _refused(reason: str) -> InvalidRequest:
    """Why a code credits nothing, each in its own error code (the console words each in its language)."""
    if reason == "redeemed":
        return InvalidRequest("This top-up code has already been redeemed.", param="key", code="code_redeemed")
    if reason == "disabled":
        return InvalidRequest("This top-up code has been disabled.", param="key", code="code_disabled")
    if reason == "expired":
        return InvalidRequest("This top-up code has expired.", param="key", code="code_expired")
    return InvalidRequest("This top-up code is not valid.", param="key", code="invalid_code")


def _expired(code: TopUpCode) -> bool:
    return code.expires_at is not None and code.expires_at <= clock.now_epoch()


def is_code_id(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)
