"""Where a request's key is found: every SDK sends it differently."""

from __future__ import annotations

import pytest
from starlette.datastructures import Headers, QueryParams

from gateway.auth.authenticate import credential_from

KEY = "sk-gw-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcd"
OTHER = "sk-gw-ZyXwVuTsRqPoNmLkJiHgFeDcBa9876543210-_zyxw"


def find(headers: dict[str, str] | None = None, query: str = "") -> str | None:
    # The same Mapping types the FastAPI request gives (case-insensitive headers)
    return credential_from(Headers(headers or {}), QueryParams(query))


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_openai_sdk_bearer_header_is_read_whatever_the_scheme_case(scheme: str) -> None:
    # Given `Authorization: <scheme> <key>`, When the credential is read, Then it is the key
    assert find({"Authorization": f"{scheme} {KEY}"}) == KEY


def test_spaces_around_the_bearer_token_are_ignored() -> None:
    assert find({"authorization": f"Bearer   {KEY}  "}) == KEY


def test_the_anthropic_sdk_x_api_key_header_is_read() -> None:
    assert find({"x-api-key": KEY, "anthropic-version": "2023-06-01"}) == KEY


def test_the_gemini_sdk_x_goog_api_key_header_is_read() -> None:
    assert find({"X-Goog-Api-Key": KEY}) == KEY


def test_the_gemini_key_query_parameter_is_read() -> None:
    assert find(query=f"alt=sse&key={KEY}") == KEY


def test_a_bearer_header_wins_over_the_other_places() -> None:
    assert find({"Authorization": f"Bearer {KEY}", "x-api-key": OTHER}, query=f"key={OTHER}") == KEY


def test_headers_win_over_the_query_string() -> None:
    assert find({"x-goog-api-key": KEY}, query=f"key={OTHER}") == KEY


@pytest.mark.parametrize(
    "authorization",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", KEY, f"Token {KEY}"],
)
def test_a_non_bearer_or_empty_authorization_header_is_not_a_credential(authorization: str) -> None:
    # Given an Authorization header that does not carry a bearer token
    # Then nothing is found (and the request is answered 401 by authenticate)
    assert find({"Authorization": authorization}) is None


def test_a_non_bearer_authorization_header_falls_back_to_x_api_key() -> None:
    assert find({"Authorization": "Basic dXNlcjpwYXNz", "x-api-key": KEY}) == KEY


@pytest.mark.parametrize(
    ("headers", "query"),
    [({}, ""), ({"x-api-key": ""}, ""), ({"x-goog-api-key": ""}, "key="), ({"accept": "application/json"}, "q=1")],
)
def test_no_credential_anywhere_gives_none(headers: dict[str, str], query: str) -> None:
    assert find(headers, query) is None


def test_the_cache_alone_answers_only_what_needs_no_read(monkeypatch: pytest.MonkeyPatch) -> None:
    import time
    from dataclasses import replace

    from gateway.auth import authenticate
    from gateway.auth.keys import hash_key
    from gateway.errors import ApiDisabled, InvalidApiKey
    from gateway.storage.api_keys import ApiKeyRecord

    monkeypatch.setattr(authenticate, "_cache", {})
    # Given nothing cached: a read is needed (None), but a missing or malformed key fails at once
    assert authenticate.authenticate_from_cache(KEY, require="inference") is None
    with pytest.raises(InvalidApiKey):
        authenticate.authenticate_from_cache(None, require="inference")
    with pytest.raises(InvalidApiKey):
        authenticate.authenticate_from_cache("not-a-key", require="inference")

    # Given the key's record cached and fresh: answered from memory, with the same checks as a read
    record = ApiKeyRecord(
        key_hash=hash_key(KEY),
        key_prefix=KEY[:12],
        account_id="acct_1",
        name="k",
        kind="inference",
        disabled=False,
        created_at="t",
    )
    authenticate._cache[record.key_hash] = (time.monotonic() + 30, authenticate._Read(record, gate=4, shards=16))
    principal = authenticate.authenticate_from_cache(KEY, require="inference")
    assert principal is not None
    assert (principal.account_id, principal.gate, principal.shards) == ("acct_1", 4, 16)  # as read with the key
    assert authenticate.authenticate_from_cache(KEY, require="management") is None  # always read afresh
    assert authenticate.authenticate_from_cache(KEY, require="any") is None  # no reserve transaction re-checks it
    # A cached disabled key is refused from memory too
    disabled = authenticate._Read(replace(record, disabled=True), gate=4, shards=16)
    authenticate._cache[record.key_hash] = (time.monotonic() + 30, disabled)
    with pytest.raises(ApiDisabled):
        authenticate.authenticate_from_cache(KEY, require="inference")
    # Expired entries are not trusted
    authenticate._cache[record.key_hash] = (time.monotonic() - 1, authenticate._Read(record, gate=4, shards=16))
    assert authenticate.authenticate_from_cache(KEY, require="inference") is None


def test_a_created_key_is_answered_from_memory_only_with_its_creator(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A key created by another key is admitted with that key, read with it at one moment."""
    import time
    from dataclasses import replace

    from gateway.auth import authenticate
    from gateway.auth.keys import hash_key
    from gateway.errors import ApiDisabled
    from gateway.storage.api_keys import ApiKeyRecord

    monkeypatch.setattr(authenticate, "_cache", {})
    creator = ApiKeyRecord(
        key_hash="a" * 64, key_prefix="sk-gw-aaaa...", account_id="acct_1", name="mine", kind="inference",
        disabled=False, created_at="t", allowed_providers=("openai",),
    )  # fmt: skip
    child = replace(creator, key_hash=hash_key(KEY), name="child", allowed_providers=None, parent=creator.key_hash)
    # the child is cached with its creator, as one transaction read both (and their account's gate)
    authenticate._cache[child.key_hash] = (time.monotonic() + 30, authenticate._Read(child, creator, 2, 16))
    principal = authenticate.authenticate_from_cache(KEY, require="inference")
    assert principal is not None
    assert principal.parent == creator
    assert principal.key.allowed_providers == ("openai",)  # within its creator
    stopped = authenticate._Read(child, replace(creator, disabled=True), 2, 16)
    authenticate._cache[child.key_hash] = (time.monotonic() + 30, stopped)
    with pytest.raises(ApiDisabled, match="created this API key"):
        authenticate.authenticate_from_cache(KEY, require="inference")
