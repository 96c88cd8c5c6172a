"""Bad input and refused requests: the OpenAI error envelope, the right status, and no credit touched."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import balance_of

GRANT = 1_000_000
MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def tenant(make_tenant):  # type: ignore[no-untyped-def]
    return make_tenant("1")


def post(gateway_url: str, key: str | None, body: object = None, *, content: bytes | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    if content is not None:
        headers["Content-Type"] = "application/json"
        return httpx.post(f"{gateway_url}/v1/chat/completions", content=content, headers=headers, timeout=20)
    return httpx.post(f"{gateway_url}/v1/chat/completions", json=body, headers=headers, timeout=20)


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code
    assert set(error) == {"message", "type", "code", "param", "status"}
    assert error["status"] == status  # poeti's envelope: the HTTP status in the body too
    assert error["message"]
    assert response.headers["x-trace-id"].startswith("gen-")
    return error


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b'{"model": "test/echo", "messages": [', "invalid_json"),
        (b"\xff\xfe not utf-8", "invalid_request"),
        (b"[1, 2, 3]", "invalid_request"),
        (b'"just a string"', "invalid_request"),
        (b"", "invalid_request"),
        (b"[" * 100_000 + b"]" * 100_000, "invalid_request"),
        (b'{"model": "test/echo", "messages": [{"role": "user", "content": "\\ud800"}]}', "invalid_request"),
    ],
    ids=["truncated", "invalid-utf8", "array", "string", "empty", "deeply-nested", "lone-surrogate"],
)
def test_unreadable_bodies_are_400_and_free(gateway_url, upstream, tenant, content, code):
    response = post(gateway_url, tenant.key, content=content)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] in (code, "invalid_json")
    assert balance_of(tenant.account_id) == GRANT
    assert upstream.requests == []


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"messages": MESSAGES}, "model_required", "model"),
        ({"model": "", "messages": MESSAGES}, "model_required", "model"),
        ({"model": None, "messages": MESSAGES}, "model_required", "model"),
        ({"model": "test/echo", "messages": None}, "messages_required", "messages"),
        ({"model": "test/echo"}, "messages_required", "messages"),
        ({"model": "test/echo", "messages": []}, "messages_required", "messages"),
        ({"model": "test/echo", "messages": [{"content": "no role"}]}, "invalid_request", "messages.0.role"),
        ({"model": "test/echo", "messages": MESSAGES, "max_tokens": 0}, "invalid_request", "max_tokens"),
        ({"model": "test/echo", "messages": MESSAGES, "n": 100000}, "invalid_request", "n"),
        ({"model": "test/echo", "messages": MESSAGES, "stream": "yes please"}, "invalid_request", "stream"),
    ],
    ids=[
        "no-model",
        "empty-model",
        "null-model",
        "null-messages",
        "no-messages",
        "empty-messages",
        "no-role",
        "zero-max",
        "huge-n",
        "bad-stream",
    ],
)
def test_invalid_requests_name_the_field_and_are_free(gateway_url, upstream, tenant, body, code, param):
    error = assert_error(post(gateway_url, tenant.key, body), 400, code)
    assert error["param"] == param
    assert balance_of(tenant.account_id) == GRANT
    assert upstream.requests == []


def test_unknown_and_disabled_models_are_404(gateway_url, upstream, tenant):
    for model in ("no/such-model", "test/disabled"):
        error = assert_error(
            post(gateway_url, tenant.key, {"model": model, "messages": MESSAGES}), 404, "model_not_found"
        )
        assert error["param"] == "model"
    assert balance_of(tenant.account_id) == GRANT


def test_a_model_without_a_configured_provider_is_503(gateway_url, upstream, tenant):
    assert_error(
        post(gateway_url, tenant.key, {"model": "test/unconfigured", "messages": MESSAGES}),
        503,
        "provider_not_configured",
    )
    assert balance_of(tenant.account_id) == GRANT


@pytest.mark.parametrize("key", [None, "sk-gw-not-a-real-key-at-all-0000000000", "Bearer", "x" * 500])
def test_missing_or_unknown_keys_are_401(gateway_url, upstream, key):
    assert_error(post(gateway_url, key, {"model": "test/echo", "messages": MESSAGES}), 401, "invalid_api_key")
    assert upstream.requests == []


def test_a_disabled_key_is_403_on_the_very_next_request(gateway_url, upstream, tenant):
    from gateway.services import keys

    # Given a key that worked a moment ago (so its record sits in the key cache)
    assert post(gateway_url, tenant.key, {"model": "test/echo", "messages": MESSAGES}).status_code == 200
    spent = GRANT - balance_of(tenant.account_id)
    # When an operator disables it
    keys.set_key_disabled(tenant.key_hash, True)
    # Then the next request is refused, before any upstream call or charge
    calls = len(upstream.requests)
    assert_error(post(gateway_url, tenant.key, {"model": "test/echo", "messages": MESSAGES}), 403, "api_disabled")
    assert len(upstream.requests) == calls
    assert balance_of(tenant.account_id) == GRANT - spent


def test_a_management_key_cannot_call_models(gateway_url, upstream, make_tenant):
    admin = make_tenant("1", kind="management")
    assert_error(post(gateway_url, admin.key, {"model": "test/echo", "messages": MESSAGES}), 403, "forbidden")
    assert upstream.requests == []


def test_no_credits_is_402_before_any_upstream_call(gateway_url, upstream, make_tenant):
    # Given an account that cannot cover the estimate (prompt bound + 1000 output tokens at 1.5/1M)
    poor = make_tenant("0.001")
    error = assert_error(
        post(gateway_url, poor.key, {"model": "test/echo", "messages": MESSAGES}), 402, "insufficient_credits"
    )
    assert "max_tokens" in error["message"]
    assert upstream.requests == []
    assert balance_of(poor.account_id) == 1_000
    # And lowering max_tokens makes the same request affordable
    response = post(gateway_url, poor.key, {"model": "test/echo", "messages": MESSAGES, "max_tokens": 10})
    assert response.status_code == 200, response.text


def test_a_body_over_the_limit_is_413(gateway_url, upstream, tenant):
    huge = b'{"model": "test/echo", "messages": [{"role": "user", "content": "' + b"a" * (10 * 1024 * 1024) + b'"}]}'
    assert_error(post(gateway_url, tenant.key, content=huge), 413, "request_too_large")
    assert balance_of(tenant.account_id) == GRANT


def test_unknown_paths_and_methods_answer_in_the_envelope(gateway_url, tenant):
    headers = {"Authorization": f"Bearer {tenant.key}"}
    assert_error(httpx.get(f"{gateway_url}/v1/nothing-here", headers=headers), 404, "not_found")
    assert_error(httpx.get(f"{gateway_url}/v1/chat/completions", headers=headers), 405, "method_not_allowed")
    google = httpx.get(f"{gateway_url}/v1beta/nothing-here", headers=headers)  # under Gemini's API: its envelope
    assert google.status_code == 404
    assert google.json()["error"]["status"] == "NOT_FOUND", google.text


def test_header_injection_in_the_key_is_refused(gateway_url, upstream):
    response = httpx.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "test/echo", "messages": MESSAGES},
        headers={"x-api-key": "sk-gw-abc\tdef-0000000000000000000"},
    )
    assert_error(response, 401, "invalid_api_key")
