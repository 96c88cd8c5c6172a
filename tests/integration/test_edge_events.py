"""Unusual input at the edge of the functions: API Gateway REST proxy events handed to the buffered
functions' Lambda handlers, and raw HTTP to the streamed functions' app (as uvicorn behind the Web
Adapter serves it). JSON nested past what the parsers and pydantic's serializer take is bad input
(400), never a 500; a 500 still carries the X-Trace-ID it asks to quote; header values Mangum reads
as numbers do not crash the handler."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from devtools.devserver import function_module
from tests.conftest import balance_of
from tests.support.lambda_events import LambdaContext, rest_event

GRANT = 5_000_000
DEPTH = 300  # JSON arrays nested this deep: far below json's own limit and the 6 MB body limit


def nested(depth: int = DEPTH) -> str:
    return "[" * depth + "1" + "]" * depth


# ---------------------------------------------------------------- 1. nested JSON -> 500 on every inference route

USER = [{"role": "user", "content": "hi"}]


def deep(body: dict) -> str:  # type: ignore[type-arg]
    """The body's JSON with "DEEP" replaced by arrays nested DEPTH deep."""
    return json.dumps(body, separators=(",", ":")).replace('"DEEP"', nested())


DEEP_BODIES = {
    "chat.completions": ("/v1/chat/completions", deep({"model": "test/echo", "messages": USER, "x": "DEEP"})),
    "chat tool schema": (
        "/v1/chat/completions",
        deep(
            {
                "model": "test/echo",
                "messages": USER,
                "tools": [
                    {"type": "function", "function": {"name": "f", "parameters": {"type": "object", "x": "DEEP"}}}
                ],
            }
        ),
    ),
    "responses": ("/v1/responses", deep({"model": "test/responses", "input": "hi", "x": "DEEP"})),
    "anthropic messages": (
        "/v1/messages",
        deep({"model": "test/claude", "max_tokens": 5, "messages": USER, "metadata": {"x": "DEEP"}}),
    ),
    "anthropic count_tokens": (
        "/v1/messages/count_tokens",
        deep({"model": "test/claude", "messages": USER, "tools": [{"name": "f", "input_schema": {"x": "DEEP"}}]}),
    ),
    "gemini generateContent": (
        "/v1beta/models/test/gemini:generateContent",
        deep({"contents": [{"role": "user", "parts": [{"text": "hi"}]}], "toolConfig": {"x": "DEEP"}}),
    ),
    "completions": ("/v1/completions", deep({"model": "test/instruct", "prompt": "hi", "x": "DEEP"})),
    "embeddings": ("/v1/embeddings", deep({"model": "test/embed", "input": "hi", "x": "DEEP"})),
    "images": ("/v1/images/generations", deep({"model": "test/image", "prompt": "a cat", "x": "DEEP"})),
    "speech": ("/v1/audio/speech", deep({"model": "test/tts", "input": "hi", "voice": "alloy", "x": "DEEP"})),
}


@pytest.mark.parametrize("case", list(DEEP_BODIES), ids=list(DEEP_BODIES))
def test_a_body_nested_300_deep_is_a_400_not_a_500(gateway_url, upstream, make_tenant, case):
    # Given a funded key, and a body json.loads reads fine (300 levels, a few hundred bytes)
    tenant = make_tenant("5")
    path, body = DEEP_BODIES[case]
    headers = {"Authorization": f"Bearer {tenant.key}", "Content-Type": "application/json"}

    # When it is sent to an inference route
    answer = httpx.post(f"{gateway_url}{path}", content=body.encode(), headers=headers, timeout=30)

    # Then it is refused as bad input (400, in the route's envelope), not a 500, and costs nothing
    assert answer.status_code == 400, answer.text
    assert balance_of(tenant.account_id) == GRANT


# ---------------------------------------------------------------- 2. carried thinking whose JSON is nested -> 500

DEEP_CARRIED = b"[" * 50_000  # 50 kB: the gateway's own carrier (gw1.) around JSON nested too deep to read


def test_a_reasoning_items_carried_thinking_nested_too_deep_is_a_400(gateway_url, upstream, make_tenant):
    tenant = make_tenant("5")
    content = "gw1." + base64.urlsafe_b64encode(DEEP_CARRIED).decode()
    body = {
        "model": "test/responses",
        "input": [
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": content},
            {"role": "user", "content": "hi"},
        ],
    }
    answer = httpx.post(
        f"{gateway_url}/v1/responses", json=body, headers={"Authorization": f"Bearer {tenant.key}"}, timeout=30
    )
    # documented for a damaged carrier: "a reasoning item's encrypted_content is damaged" (400)
    assert answer.status_code == 400, answer.text
    assert balance_of(tenant.account_id) == GRANT


def test_a_gemini_thought_signature_carrying_json_nested_too_deep_is_not_the_gateways(
    gateway_url, upstream, make_tenant
):
    tenant = make_tenant("5")
    signature = base64.b64encode(b"gw1." + DEEP_CARRIED).decode()
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}, "thoughtSignature": signature}]},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]},
        ]
    }
    answer = httpx.post(
        f"{gateway_url}/v1beta/models/test/echo:generateContent",
        json=body,
        headers={"x-goog-api-key": tenant.key},
        timeout=30,
    )
    # a signature the gateway cannot read as its own carrier is Google's, passed on as it came
    assert answer.status_code == 200, answer.text


# ---------------------------------------------------------------- 3. listing cursors holding nested JSON -> 500

DEEP_CURSOR = base64.urlsafe_b64encode(b"[" * 1500).decode()  # 2,000 characters: within the parameter's bound


def _handler_call(function: str, event: dict) -> dict:
    return function_module(function).handler(event, LambdaContext())


def test_a_request_traces_cursor_of_nested_json_is_a_400_in_the_usage_function(gateway_env, make_tenant):
    tenant = make_tenant("5")
    event = rest_event("GET", "/api/v1/request-traces", {"Authorization": f"Bearer {tenant.key}", "Host": "x"})
    event["queryStringParameters"] = {"cursor": "2." + DEEP_CURSOR}
    event["multiValueQueryStringParameters"] = {"cursor": ["2." + DEEP_CURSOR]}

    answer = _handler_call("usage", event)

    # "This cursor is not valid for this listing." (400), as for any other forged cursor
    assert answer["statusCode"] == 400, answer["body"]


def test_a_console_traces_cursor_of_nested_json_is_a_400(gateway_env, cognito):
    user = cognito.sign_up()
    event = rest_event("GET", "/console/api/traces", {"Authorization": f"Bearer {user.id_token}", "Host": "x"})
    event["queryStringParameters"] = {"cursor": DEEP_CURSOR}
    event["multiValueQueryStringParameters"] = {"cursor": [DEEP_CURSOR]}

    answer = _handler_call("console", event)

    assert answer["statusCode"] == 400, answer["body"]


# ---------------------------------------------------------------- 4. a 500 has no X-Trace-ID to quote


def test_a_500_from_a_buffered_function_carries_the_x_trace_id_it_asks_to_quote(gateway_env, make_tenant, monkeypatch):
    # Given any bug behind a route (here: the usage service raising)
    from gateway.services import usage

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(usage, "usage", broken)
    tenant = make_tenant("5")

    answer = _handler_call(
        "usage", rest_event("GET", "/api/usage", {"Authorization": f"Bearer {tenant.key}", "Host": "x"})
    )

    # Then the 500 in the envelope says "Quote the X-Trace-ID header" and API.md promises it on every
    # response: the header must be there
    assert answer["statusCode"] == 500
    assert "X-Trace-ID" in json.loads(answer["body"])["error"]["message"]
    assert "x-trace-id" in answer["headers"], answer["headers"]


def test_a_500_from_a_streamed_function_carries_the_x_trace_id_it_asks_to_quote(
    gateway_url, upstream, make_tenant, monkeypatch
):
    from gateway.services import models

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(models, "list_models", broken)
    tenant = make_tenant("5")

    answer = httpx.get(f"{gateway_url}/v1/models", headers={"Authorization": f"Bearer {tenant.key}"}, timeout=30)

    assert answer.status_code == 500
    assert "X-Trace-ID" in answer.json()["error"]["message"]
    assert "x-trace-id" in answer.headers, dict(answer.headers)


# ---------------------------------------------------------------- 5. the handler itself crashes on header values


def _keys_event(key: str) -> dict:
    return rest_event("GET", "/api/user/self/quota", {"Authorization": f"Bearer {key}", "Host": "x"})


def _two_forwarded_ports(event: dict) -> None:
    # the client's X-Forwarded-Port next to API Gateway's: Mangum joins them ("80, 443") and int()s it
    event["headers"]["X-Forwarded-Port"] = "443"
    event["multiValueHeaders"]["X-Forwarded-Port"] = ["80", "443"]


def _host_with_a_bad_port(event: dict) -> None:
    event["headers"]["Host"] = event["multiValueHeaders"]["Host"][0] = "api.example.com:https"


def _invalid_base64_body(event: dict) -> None:
    event["httpMethod"] = "POST"
    event["path"] = event["resource"] = "/api/user/topup"
    event["headers"]["Content-Type"] = "application/json"
    event["body"], event["isBase64Encoded"] = "eyJrZXkiOiJhIn0", True  # one character short of valid


EDGE_EVENTS = {
    "x-forwarded-port twice": _two_forwarded_ports,
    "host with a non-numeric port": _host_with_a_bad_port,
    "invalid base64 body": _invalid_base64_body,
}


@pytest.mark.parametrize("case", list(EDGE_EVENTS), ids=list(EDGE_EVENTS))
def test_the_keys_handler_answers_odd_header_values_in_its_envelope_instead_of_raising(gateway_env, make_tenant, case):
    tenant = make_tenant("2")
    event = _keys_event(tenant.key)
    EDGE_EVENTS[case](event)

    try:
        answer = function_module("keys").handler(event, LambdaContext())
    except Exception as error:  # Lambda reports a function error; API Gateway answers a bare 502
        pytest.fail(f"the handler raised {error!r} instead of answering")
    assert answer["statusCode"] < 500, answer
    json.loads(answer["body"])
