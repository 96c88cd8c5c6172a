"""Requests a client may send whose fields are of a type no translator can read (`stop: 5`, a Gemini
`responseModalities: 5`, an Anthropic image `url` source without its url, an unclosed IPv6 URL): a 400
in the endpoint's own envelope, before any credit is held, for every model kind, streamed or not. Such
requests used to crash a translator: a 500, or (after the hold) a 502 "interrupted"."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.conftest import balance_of, ledger_entry

GRANT = 10_000_000  # micro-credits of "10"
HI = [{"role": "user", "content": "hi"}]


def send(gateway_url: str, key: str, path: str, body: dict[str, Any]) -> httpx.Response:
    headers = {"x-goog-api-key": key} if path.startswith("/v1beta") else {"Authorization": f"Bearer {key}"}
    params = {"alt": "sse"} if ":streamGenerateContent" in path else None
    return httpx.post(f"{gateway_url}{path}", json=body, headers=headers, params=params, timeout=30)


def assert_refused_in_envelope(response: httpx.Response, path: str) -> None:
    """A 400 in the envelope docs/API.md gives the route."""
    assert response.status_code == 400, f"{response.status_code} {response.text[:400]}"
    body = response.json()
    if path.startswith("/v1/messages"):
        assert (body["type"], body["error"]["type"]) == ("error", "invalid_request_error"), body
    elif path.startswith("/v1beta"):
        assert (body["error"]["code"], body["error"]["status"]) == (400, "INVALID_ARGUMENT"), body
    else:
        assert (body["error"]["status"], body["error"]["type"]) == (400, "invalid_request_error"), body


def assert_nothing_moved(tenant, response: httpx.Response, *, routed: bool = False) -> None:  # type: ignore[no-untyped-def]
    """Nothing held; or, for what only the routed provider's translator can refuse (another provider
    may take it), a hold given back whole: an error entry that charged nothing."""
    assert balance_of(tenant.account_id) == GRANT
    entry = ledger_entry(response.headers["x-trace-id"])
    if routed:
        assert entry is None or (entry["status"], entry["credits"]) == ("error", 0), entry
    else:
        assert entry is None, "bad input left a ledger entry (a hold was taken)"


# ---------------------------------------------------------------- an Anthropic image of type url without its url

IMAGE_URL_WITHOUT_URL = {"type": "image", "source": {"type": "url"}}


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("/v1/messages", "test/gemini"),
        ("/v1/messages", "test/echo"),
        ("/v1/messages/count_tokens", "test/echo"),
    ],
)
def test_an_anthropic_url_image_without_its_url_is_a_400(gateway_url, upstream, make_tenant, path, model):
    tenant = make_tenant("10")
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": [IMAGE_URL_WITHOUT_URL]}]}
    if path == "/v1/messages":
        body["max_tokens"] = 50
    response = send(gateway_url, tenant.key, path, body)
    assert_refused_in_envelope(response, path)
    assert_nothing_moved(tenant, response)


# ---------------------------------------------------------------- Gemini bodies the inbound translator cannot read

GEMINI_USER = {"role": "user", "parts": [{"text": "hi"}]}
GEMINI_TOOLS = [{"functionDeclarations": [{"name": "f", "parameters": {"type": "OBJECT", "properties": {}}}]}]

GEMINI_500 = {
    # formats/gemini_settings.py:77 iterates the value
    "responseModalities-int": {"contents": [GEMINI_USER], "generationConfig": {"responseModalities": 5}},
    # formats/gemini_settings.py:55 len(allowed)
    "allowedFunctionNames-int": {
        "contents": [GEMINI_USER],
        "tools": GEMINI_TOOLS,
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": 5}},
    },
    # formats/gemini_settings.py:56 allowed[0] on a one-key object
    "allowedFunctionNames-object": {
        "contents": [GEMINI_USER],
        "tools": GEMINI_TOOLS,
        "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": {"f": 1}}},
    },
    # formats/gemini.py _system_text iterated the value
    "systemInstruction-parts-int": {"contents": [GEMINI_USER], "systemInstruction": {"parts": 7}},
    # formats/gemini_settings.py function_tools iterated the value
    "functionDeclarations-int": {"contents": [GEMINI_USER], "tools": [{"functionDeclarations": 7}]},
    # dialects/gemini.py:232 urlsplit raises ValueError("Invalid IPv6 URL")
    "fileData-bad-uri": {"contents": [{"role": "user", "parts": [{"fileData": {"fileUri": "http://[::1"}}]}]},
}


@pytest.mark.parametrize("method", ["generateContent", "streamGenerateContent"])
@pytest.mark.parametrize("model", ["test/gemini", "test/claude"])
@pytest.mark.parametrize("case", list(GEMINI_500))
def test_odd_gemini_fields_are_a_400_not_a_500(gateway_url, upstream, make_tenant, case, model, method):
    tenant = make_tenant("10")
    path = f"/v1beta/models/{model}:{method}"
    response = send(gateway_url, tenant.key, path, GEMINI_500[case])
    assert_refused_in_envelope(response, path)
    assert_nothing_moved(tenant, response)


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/messages/count_tokens"])
@pytest.mark.parametrize("kind", [{"a": 1}, ["text"]], ids=["object", "list"])
def test_an_anthropic_block_whose_type_is_not_a_string_is_no_500(gateway_url, upstream, make_tenant, path, kind):
    tenant = make_tenant("10")
    body = {"model": "test/claude", "max_tokens": 10, "messages": [{"role": "user", "content": [{"type": kind}]}]}
    assert send(gateway_url, tenant.key, path, body).status_code < 500


def test_gemini_count_tokens_with_odd_allowed_function_names_is_a_400(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    path = "/v1beta/models/test/claude:countTokens"
    response = send(gateway_url, tenant.key, path, {"generateContentRequest": GEMINI_500["allowedFunctionNames-int"]})
    assert_refused_in_envelope(response, path)
    assert_nothing_moved(tenant, response)


# ---------------------------------------------------------------- fields no provider translator can read

TOOL_CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}

TRANSLATOR_CRASHES: list[tuple[str, str, str, dict[str, Any]]] = [
    # (id, path, model, body) -- the upstream-side translator line that raises is in the id's comment
    # providers/anthropic/request.py:85 list(5)
    ("chat-stop-int-to-anthropic", "/v1/chat/completions", "test/claude", {"messages": HI, "stop": 5}),
    # providers/gemini/request.py:291 list(5)
    ("chat-stop-int-to-gemini", "/v1/chat/completions", "test/gemini", {"messages": HI, "stop": 5}),
    # providers/bedrock/request.py:259 list(True)
    ("chat-stop-true-to-bedrock", "/v1/chat/completions", "test/bedrock", {"messages": HI, "stop": True}),
    # providers/anthropic/request.py:87 enumerate(5)
    ("chat-tools-int-to-anthropic", "/v1/chat/completions", "test/claude", {"messages": HI, "tools": 5}),
    # providers/anthropic/request.py:109 list `in` dict (unhashable)
    (
        "chat-reasoning_effort-list-to-anthropic",
        "/v1/chat/completions",
        "test/claude",
        {"messages": HI, "reasoning_effort": ["high"]},
    ),
    # providers/anthropic/request.py:229 enumerate(5)
    (
        "chat-tool_calls-int-to-anthropic",
        "/v1/chat/completions",
        "test/claude",
        {"messages": [*HI, {"role": "assistant", "content": None, "tool_calls": 5}]},
    ),
    # providers/anthropic/request.py:227 iterate 5
    (
        "chat-thinking_blocks-int-to-anthropic",
        "/v1/chat/completions",
        "test/claude",
        {"messages": [*HI, {"role": "assistant", "content": "x", "thinking_blocks": 5}, *HI]},
    ),
    # providers/gemini/request.py:212 None.get
    (
        "chat-tool_calls-null-item-to-gemini",
        "/v1/chat/completions",
        "test/gemini",
        {"messages": [*HI, {"role": "assistant", "content": None, "tool_calls": [None]}]},
    ),
    # providers/gemini/request.py:271 str.get
    (
        "chat-tool_choice-function-str-to-gemini",
        "/v1/chat/completions",
        "test/gemini",
        {
            "messages": HI,
            "tools": [{"type": "function", "function": {"name": "f"}}],
            "tool_choice": {"type": "function", "function": "f"},
        },
    ),
    # providers/gemini/request.py:308 str.get
    (
        "chat-json_schema-str-to-gemini",
        "/v1/chat/completions",
        "test/gemini",
        {"messages": HI, "response_format": {"type": "json_schema", "json_schema": "x"}},
    ),
    # dialects/gemini.py:210 int.startswith (via providers/gemini/request.py)
    (
        "chat-file_data-int-to-gemini",
        "/v1/chat/completions",
        "test/gemini",
        {"messages": [{"role": "user", "content": [{"type": "file", "file": {"file_data": 5}}]}]},
    ),
    # dialects/gemini.py:232 urlsplit ValueError (via providers/gemini/request.py _media)
    (
        "chat-image-bad-url-to-gemini",
        "/v1/chat/completions",
        "test/gemini",
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://[::1"}}]}]},
    ),
    (
        "responses-image-bad-url-to-gemini",
        "/v1/responses",
        "test/gemini",
        {"input": [{"role": "user", "content": [{"type": "input_image", "image_url": "http://[::1"}]}]},
    ),
    # a Gemini body to an Anthropic model: stopSequences 5 -> canonical stop 5 -> request.py:85
    (
        "gemini-stopSequences-int-to-anthropic",
        "/v1beta/models/test/claude:generateContent",
        "test/claude",
        {"contents": [GEMINI_USER], "generationConfig": {"stopSequences": 5}},
    ),
]


@pytest.mark.parametrize(
    ("path", "model", "body"), [c[1:] for c in TRANSLATOR_CRASHES], ids=[c[0] for c in TRANSLATOR_CRASHES]
)
@pytest.mark.parametrize("stream", [False, True])
def test_untranslatable_fields_are_a_400_not_a_502_interrupted(
    request, gateway_url, upstream, make_tenant, path, model, body, stream
):
    tenant = make_tenant("10")
    sent = dict(body)
    if path.startswith("/v1beta"):
        if stream:
            path = path.replace(":generateContent", ":streamGenerateContent")
    else:
        sent = {"model": model, "stream": stream, **sent}
    response = send(gateway_url, tenant.key, path, sent)
    assert_refused_in_envelope(response, path)
    assert_nothing_moved(tenant, response, routed="bad-url" in request.node.callspec.id)


# ---------------------------------------------------------------- an Anthropic client's refusals name its own fields


THINKING_OVER_THE_CAP = {
    "model": "test/bedrock",
    "max_tokens": 1000,
    "thinking": {"type": "enabled", "budget_tokens": 2048},
}
TOOL_USE_WITHOUT_NAME = {
    "model": "test/claude",
    "messages": [
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": None, "input": {}}]},
        {"role": "user", "content": "x"},
    ],
}
TOOL_CHOICE_WITHOUT_NAME = {
    "model": "test/echo",
    "tool_choice": {"type": "tool"},
    "tools": [{"name": "f", "input_schema": {"type": "object"}}],
}


@pytest.mark.parametrize(
    ("body", "named", "foreign"),
    [
        # a thinking budget Amazon Bedrock cannot fit under the output cap: said without a field name
        (THINKING_OVER_THE_CAP, "reasoning budget (2048 tokens)", "max_completion_tokens"),
        # a tool_use block without its name, in the client's own assistant turn
        (TOOL_USE_WITHOUT_NAME, "messages[0].content[0].name", "tool_calls"),
        # a tool_choice of type `tool` without the tool's name
        (TOOL_CHOICE_WITHOUT_NAME, "tool_choice.name", "function"),
    ],
)
def test_an_anthropic_clients_refusal_names_its_own_field(gateway_url, upstream, make_tenant, body, named, foreign):
    tenant = make_tenant("10")
    response = send(gateway_url, tenant.key, "/v1/messages", {"max_tokens": 10, "messages": HI, **body})
    assert_refused_in_envelope(response, "/v1/messages")
    message = response.json()["error"]["message"]
    assert named in message
    assert foreign not in message
    assert_nothing_moved(tenant, response, routed=True)
