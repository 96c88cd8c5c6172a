"""Gemini as an inbound format (/v1beta/models/{model}:generateContent), checked against the golden
payloads in tests/golden/gemini; round trips through the canonical OpenAI form keep what matters."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.canonical import Usage
from gateway.dialects.gemini import SKIP_SIGNATURE, json_schema
from gateway.errors import InvalidRequest
from gateway.formats.gemini import GenerateContentRequest, to_openai
from gateway.formats.gemini_answers import StreamEncoder, error_body, from_openai_response, sse
from gateway.providers.gemini.request import chat_request
from gateway.providers.gemini.response import chat_response

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "gemini"


@cache
def golden(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


def ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case["name"] for case in cases]


def body(**fields: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}], **fields}


# ---------------------------------------------------------------- request schema


def test_a_camel_case_body_validates_and_passes_through_unchanged() -> None:
    case = next(c for c in golden("inbound_request.json")["cases"] if c["name"] == "sdk_camel_case")
    request = GenerateContentRequest.model_validate(case["gemini"])
    assert request.wire_body() == case["gemini"]
    assert request.requested_output_tokens() == 256


def test_a_snake_case_body_validates_and_is_given_back_in_camel_case() -> None:
    case = next(c for c in golden("inbound_request.json")["cases"] if c["name"] == "rest_snake_case_stream")
    request = GenerateContentRequest.model_validate(case["gemini"])
    wire = request.wire_body()
    assert request.requested_output_tokens() == 500
    assert wire["systemInstruction"] == case["gemini"]["system_instruction"]
    assert wire["generationConfig"]["maxOutputTokens"] == 500
    # and the canonical request is the same whichever spelling came in
    assert to_openai(wire, "gemini-2.5-flash", True) == case["openai"]


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"contents": []},
        {"contents": [{"role": "user", "parts": []}]},
        {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]},
        {"contents": "Hi"},
        {"contents": [{"parts": [{"text": "\ud800"}]}]},
        {"contents": [{"parts": [{"text": "x"}]}], "generationConfig": {"maxOutputTokens": "many"}},
    ],
    ids=["no-contents", "empty", "empty-parts", "openai-role", "string", "lone-surrogate", "bad-max-tokens"],
)
def test_bodies_gemini_would_reject_are_refused_before_anything_is_spent(payload: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        GenerateContentRequest.model_validate(payload)


# ---------------------------------------------------------------- to_openai

INBOUND = golden("inbound_request.json")["cases"]


@pytest.mark.parametrize("case", INBOUND, ids=ids(INBOUND))
def test_a_gemini_request_becomes_the_golden_openai_request(case: dict[str, Any]) -> None:
    assert to_openai(case["gemini"], case["model"], case["stream"]) == case["openai"]


@pytest.mark.parametrize("case", INBOUND, ids=ids(INBOUND))
def test_translating_a_request_leaves_the_clients_body_untouched(case: dict[str, Any]) -> None:
    payload = copy.deepcopy(case["gemini"])
    to_openai(payload, case["model"], case["stream"])
    assert payload == case["gemini"]


@pytest.mark.parametrize(
    ("payload", "param"),
    [
        (body(cachedContent="cachedContents/abc123"), "cachedContent"),
        (
            body(safetySettings=[{"category": "HARM_CATEGORY_HARASSMENT", "threshold": "BLOCK_LOW_AND_ABOVE"}]),
            "safetySettings[0]",
        ),
        (body(tools=[{"googleSearch": {}}]), "tools[0].googleSearch"),
        (body(tools=[{"code_execution": {}}]), "tools[0].code_execution"),
        (body(generationConfig={"responseLogprobs": True, "logprobs": 3}), "generationConfig.responseLogprobs"),
        (body(generationConfig={"responseModalities": ["TEXT", "IMAGE"]}), "generationConfig.responseModalities"),
        (body(generationConfig={"speechConfig": {"voiceConfig": {}}}), "generationConfig.speechConfig"),
        (body(generationConfig={"responseMimeType": "text/x.enum"}), "generationConfig.responseMimeType"),
        (body(someFutureField=True), "someFutureField"),
        ({"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "contents[0].role"),
        (
            {"contents": [{"parts": [{"inlineData": {"mimeType": "video/mp4", "data": "AAAA"}}]}]},
            "contents[0].parts[0].inlineData",
        ),
        (
            {
                "contents": [
                    {
                        "parts": [
                            {
                                "fileData": {
                                    "fileUri": "https://generativelanguage.googleapis.com/v1beta/files/abc",
                                    "mimeType": "image/png",
                                }
                            }
                        ]
                    }
                ]
            },
            "contents[0].parts[0].fileData",
        ),
        ({"contents": [{"parts": [{"fileData": {"fileUri": "gs://bucket/a.png"}}]}]}, "contents[0].parts[0].fileData"),
        ({"contents": [{"parts": [{"executableCode": {"language": "PYTHON", "code": "1"}}]}]}, "contents[0].parts[0]"),
        (
            {"contents": [{"parts": [{"functionResponse": {"name": "f", "response": {}}}]}]},
            "contents[0].parts[0].functionResponse",
        ),
        (
            {"contents": [{"parts": [{"text": "x"}]}], "systemInstruction": {"parts": [{"inlineData": {}}]}},
            "systemInstruction",
        ),
        (
            body(
                tools=[{"functionDeclarations": [{"name": "f"}]}],
                toolConfig={"functionCallingConfig": {"mode": "VALIDATED"}},
            ),
            "toolConfig",
        ),
    ],
)
def test_what_the_canonical_form_cannot_carry_is_refused_by_name(payload: dict[str, Any], param: str) -> None:
    # Given a Gemini request using something no OpenAI-format upstream could honour
    with pytest.raises(InvalidRequest) as raised:
        to_openai(payload, "gemini-2.5-flash", False)
    # Then it is refused before any credit is touched, naming the field
    assert raised.value.param == param


def test_default_safety_settings_labels_and_service_tier_change_nothing_and_are_dropped() -> None:
    payload = body(
        safetySettings=[{"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "threshold": "OFF"}],
        labels={"team": "search"},
        serviceTier="standard",
    )
    assert to_openai(payload, "m", False) == {
        "model": "m",
        "messages": [{"role": "user", "content": "Hi"}],
        "stream": False,
    }


def test_a_streamed_answer_replayed_from_the_sdk_history_is_one_assistant_message() -> None:
    # Given the google-genai chat history of a streamed turn: one model content per chunk
    contents = [
        {"role": "user", "parts": [{"text": "Weather?"}]},
        {"role": "model", "parts": [{"text": "Let me"}]},
        {"role": "model", "parts": [{"text": " check."}]},
        {"role": "model", "parts": [{"functionCall": {"id": "call_1", "name": "w", "args": {}}}]},
        {"role": "model", "parts": [{"text": ""}]},
        {"role": "user", "parts": [{"functionResponse": {"id": "call_1", "name": "w", "response": {"output": "sun"}}}]},
    ]
    messages = to_openai({"contents": contents}, "m", False)["messages"]
    # Then the model turn is one assistant message, and the tool result follows it directly
    assert messages[1:] == [
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "w", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sun"},
    ]


# ---------------------------------------------------------------- round trips


def _normal(request: dict[str, Any]) -> dict[str, Any]:
    """What a Gemini model reads of a request: camelCase, consecutive turns of one role as one turn,
    signatures we add and ids (not sent upstream) dropped, tool parameters as JSON Schema,
    plain-text tool results as {"content": ...}."""
    contents: list[dict[str, Any]] = []
    for content in request.get("contents", []):
        parts = []
        for part in content["parts"]:
            part = {_camel(k): v for k, v in part.items()}
            if part.get("thoughtSignature") == SKIP_SIGNATURE:
                del part["thoughtSignature"]
            for key in ("inlineData", "fileData"):
                if key in part:
                    part[key] = {_camel(k): v for k, v in part[key].items()}
            if "functionCall" in part:
                part["functionCall"] = {k: v for k, v in part["functionCall"].items() if k != "id"}
            if "functionResponse" in part:
                response = {k: v for k, v in part["functionResponse"].items() if k != "id"}
                if list(response["response"]) == ["output"]:
                    response["response"] = {"content": response["response"]["output"]}
                part["functionResponse"] = response
            parts.append(part)
        role = content.get("role", "user")
        if contents and contents[-1]["role"] == role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": role, "parts": parts})
    system = request.get("systemInstruction") or request.get("system_instruction")
    tools = [
        {
            "name": d["name"],
            "description": d.get("description"),
            "schema": d.get("parametersJsonSchema") or json_schema(d.get("parameters")) or None,
        }
        for tool in request.get("tools", [])
        for d in tool["functionDeclarations"]
    ]
    return {
        "contents": contents,
        "system": "\n".join(p["text"] for p in system["parts"]) if system else None,
        "tools": tools,
    }


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word.title() for word in rest)


@pytest.mark.parametrize("case", INBOUND, ids=ids(INBOUND))
def test_a_gemini_request_sent_on_to_a_gemini_upstream_keeps_text_tools_and_media(case: dict[str, Any]) -> None:
    # Given a Gemini client's request, When it goes through the canonical form to a Gemini upstream
    upstream = chat_request(to_openai(case["gemini"], case["model"], case["stream"]))
    # Then Gemini reads the same turns, text, images, calls, results, tools and system text
    before, after = _normal(case["gemini"]), _normal(upstream)
    assert after["contents"] == before["contents"]
    assert after["system"] == before["system"]
    kept = {t["function"]["name"] for t in to_openai(case["gemini"], "m", False).get("tools", [])}
    assert after["tools"] == [
        {**tool, "schema": tool["schema"] or {"type": "object", "properties": {}}}
        for tool in before["tools"]
        if tool["name"] in kept
    ]


def test_an_openai_request_through_gemini_and_back_keeps_its_messages() -> None:
    # Given an OpenAI request with text and images, When it goes to Gemini and is read back
    case = next(c for c in golden("chat_request.json")["cases"] if c["name"] == "images_inline_and_url")
    back = to_openai(chat_request(case["openai"]), "m", False)
    # Then the images are the same URLs (detail dropped) and the text the same
    urls = [part["image_url"]["url"] for part in back["messages"][0]["content"] if part["type"] == "image_url"]
    sent = [
        part["image_url"]["url"] for part in case["openai"]["messages"][0]["content"] if part["type"] == "image_url"
    ]
    assert urls == sent
    assert back["messages"][0]["content"][0] == {"type": "text", "text": "Compare these."}


# ---------------------------------------------------------------- answers

ANSWERS = golden("inbound_response.json")["cases"]


@pytest.mark.parametrize("case", ANSWERS, ids=ids(ANSWERS))
def test_an_openai_answer_becomes_the_golden_gemini_answer(case: dict[str, Any]) -> None:
    assert from_openai_response(case["openai"], case["model"]) == case["gemini"]


def test_a_gemini_answer_through_the_canonical_form_keeps_text_thoughts_calls_and_usage() -> None:
    # Given a Gemini upstream's answer, When a Gemini client gets it through the canonical form
    for case in golden("chat_response.json")["cases"]:
        if case["name"] in ("prompt_blocked", "candidate_blocked_for_safety"):
            continue
        original = case["gemini"]
        again = from_openai_response(chat_response(original, "m"), original["modelVersion"])
        # Then each candidate says the same, in one part per kind, and the usage is the same
        for before, after in zip(original["candidates"], again["candidates"], strict=True):
            parts = before["content"]["parts"]
            thoughts = "".join(p["text"] for p in parts if p.get("thought"))
            text = "".join(p.get("text", "") for p in parts if not p.get("thought"))
            calls = [
                (p["functionCall"]["name"], p["functionCall"]["args"], p.get("thoughtSignature"))
                for p in parts
                if "functionCall" in p
            ]
            got = after["content"]["parts"]
            assert "".join(p["text"] for p in got if p.get("thought")) == thoughts
            assert "".join(p.get("text", "") for p in got if not p.get("thought")) == text
            assert [
                (p["functionCall"]["name"], p["functionCall"]["args"], p.get("thoughtSignature"))
                for p in got
                if "functionCall" in p
            ] == calls
            assert after["finishReason"] == before["finishReason"]
        meta = original["usageMetadata"]
        for key in ("promptTokenCount", "candidatesTokenCount", "thoughtsTokenCount", "cachedContentTokenCount"):
            assert again["usageMetadata"].get(key, 0) == meta.get(key, 0)


# ---------------------------------------------------------------- streams

STREAM = golden("inbound_stream.json")


def test_each_openai_chunk_becomes_the_golden_gemini_chunks() -> None:
    encoder = StreamEncoder(STREAM["model"])
    for event in STREAM["events"]:
        assert encoder.feed(event["openai"]) == event["gemini"]
    assert encoder.finish() == STREAM["finish"]


def test_tool_calls_are_sent_whole_once_their_choice_finishes() -> None:
    encoder = StreamEncoder("m")
    sent = [chunk for event in STREAM["events"][:-2] for chunk in encoder.feed(event["openai"])]
    assert not any("functionCall" in part for chunk in sent for part in chunk["candidates"][0]["content"]["parts"])
    flushed = encoder.feed(STREAM["events"][-2]["openai"])
    assert [part["functionCall"]["name"] for part in flushed[0]["candidates"][0]["content"]["parts"]] == [
        "get_weather",
        "get_time",
    ]


def test_a_streams_final_usage_keeps_the_thinking_share_its_usage_chunk_reported() -> None:
    """An OpenAI reasoning model streamed to a Gemini client: 50 output tokens, 40 of them thinking, as
    the whole answer's usageMetadata splits them."""
    encoder = StreamEncoder("m")
    details = {"reasoning_tokens": 40}
    encoder.feed({"id": "x", "choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 50,
                                                      "completion_tokens_details": details}})  # fmt: skip
    [last] = encoder.finish(Usage(prompt_tokens=7, completion_tokens=50))
    assert (last["usageMetadata"]["candidatesTokenCount"], last["usageMetadata"]["thoughtsTokenCount"]) == (10, 40)


def test_finish_takes_the_usage_it_is_given_and_closes_calls_left_open() -> None:
    encoder = StreamEncoder("m")
    encoder.feed(
        {
            "id": "x",
            "choices": [
                {
                    "index": 0,
                    "delta": {
                        "tool_calls": [{"index": 0, "id": "c", "function": {"name": "f", "arguments": '{"a":1}'}}]
                    },
                }
            ],
        }
    )
    [last] = encoder.finish(Usage(prompt_tokens=10, completion_tokens=4, cached_tokens=2))
    assert last["candidates"] == [
        {
            "content": {"parts": [{"functionCall": {"id": "c", "name": "f", "args": {"a": 1}}}], "role": "model"},
            "finishReason": "STOP",
            "index": 0,
        }
    ]
    assert last["usageMetadata"] == {
        "promptTokenCount": 10,
        "candidatesTokenCount": 4,
        "totalTokenCount": 14,
        "cachedContentTokenCount": 2,
    }


def test_sse_frames_an_event_as_google_does() -> None:
    assert STREAM["sse_of_first_text_chunk"].endswith("}\r\n\r\n")
    assert sse(STREAM["events"][1]["gemini"][0]).decode() == STREAM["sse_of_first_text_chunk"]
    # and characters some SSE readers split lines at stay escaped inside the JSON
    framed = sse({"candidates": [{"content": {"parts": [{"text": "a\u2028b\u0085c"}]}}]})
    assert framed.count(b"\n") == 2
    assert (
        json.loads(framed.decode()[len("data: ") :])["candidates"][0]["content"]["parts"][0]["text"]
        == "a\u2028b\u0085c"
    )


def test_an_error_event_is_googles_error_envelope() -> None:
    event = STREAM["error_event"]
    assert StreamEncoder("m").error_event(event["status"], event["message"]) == event["expected"]


# ---------------------------------------------------------------- errors

ENVELOPES = golden("errors.json")["inbound"]


@pytest.mark.parametrize("case", ENVELOPES, ids=[str(c["status"]) for c in ENVELOPES])
def test_each_gateway_status_has_its_google_status_name(case: dict[str, Any]) -> None:
    assert error_body(case["status"], case["message"]) == case["expected"]


CLAUDE_THINKING = [
    {"type": "thinking", "thinking": "Paris first.", "signature": "sig-A"},
    {"type": "redacted_thinking", "data": "opaque"},
]


def test_another_vendors_signed_thinking_rides_on_the_first_call_and_comes_back() -> None:
    """Claude's thinking, answered to a Gemini client, is the thoughtSignature of its first call (as
    base64, which the SDK reads as bytes); the client's next turn gives Claude its thinking back."""
    call = {"id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    message = {"role": "assistant", "content": None, "tool_calls": [call, {**call, "id": "toolu_2"}],
               "reasoning_content": "Paris first.", "thinking_blocks": CLAUDE_THINKING}  # fmt: skip
    answer = {"id": "x", "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}
    parts = from_openai_response(answer, "m")["candidates"][0]["content"]["parts"]
    assert [("thoughtSignature" in part, part.get("thought")) for part in parts] == [
        (False, True), (True, None), (False, None),
    ]  # fmt: skip
    signature = parts[1]["thoughtSignature"]
    urlsafe = signature.replace("+", "-").replace("/", "_").rstrip("=")  # as an SDK may write bytes back
    for sent in (signature, urlsafe):
        contents = [
            {"role": "user", "parts": [{"text": "go"}]},
            {"role": "model", "parts": [{**part, "thoughtSignature": sent} if "thoughtSignature" in part else part
                                        for part in parts]},
            {"role": "user", "parts": [{"functionResponse": {"id": "toolu_1", "name": "f", "response": {}}},
                                       {"functionResponse": {"id": "toolu_2", "name": "f", "response": {}}}]},
        ]  # fmt: skip
        assistant = to_openai({"contents": contents}, "m", False)["messages"][1]
        assert assistant["thinking_blocks"] == CLAUDE_THINKING
        assert all("extra_content" not in call for call in assistant["tool_calls"])  # not Google's signature


def test_a_streamed_answer_carries_the_thinking_its_signature_deltas_closed() -> None:
    encoder = StreamEncoder("m")
    call = {"index": 0, "id": "toolu_1", "function": {"name": "f", "arguments": "{}"}}
    for delta in (
        {"reasoning_content": "Paris "},
        {"reasoning_content": "first."},
        {"thinking_blocks": [{"type": "thinking", "signature": "sig-A"}]},
        {"tool_calls": [call]},
    ):
        encoder.feed({"id": "x", "choices": [{"index": 0, "delta": delta}]})  # fmt: skip
    [last] = encoder.feed({"id": "x", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    [part] = last["candidates"][0]["content"]["parts"]
    contents = [{"role": "model", "parts": [part]}]
    assistant = to_openai({"contents": [{"role": "user", "parts": [{"text": "go"}]}, *contents]}, "m", False)
    assert assistant["messages"][1]["thinking_blocks"] == [
        {"type": "thinking", "thinking": "Paris first.", "signature": "sig-A"}
    ]


def test_googles_own_signatures_stay_googles() -> None:
    contents = [
        {"role": "user", "parts": [{"text": "go"}]},
        {
            "role": "model",
            "parts": [{"functionCall": {"name": "f", "args": {}}, "thoughtSignature": "c2lnLUdvb2dsZQ=="}],
        },
    ]
    assistant = to_openai({"contents": contents}, "m", False)["messages"][1]
    assert "thinking_blocks" not in assistant
    assert assistant["tool_calls"][0]["extra_content"] == {"google": {"thought_signature": "c2lnLUdvb2dsZQ=="}}
