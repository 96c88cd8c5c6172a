"""Bedrock Converse wire format, checked against the golden payloads in tests/golden/bedrock (input + expected)."""

from __future__ import annotations

import copy
import itertools
import json
from typing import Any

import botocore.session
import pytest
from botocore.validate import ParamValidator

from gateway.canonical import Usage, usage_from
from gateway.errors import InvalidRequest
from gateway.providers.bedrock.request import converse_request
from gateway.providers.bedrock.response import StreamTranslator, converse_response, failure_from, stream_failure
from gateway.providers.errors import UpstreamFailure, UpstreamRefusal, UpstreamTimeout
from tests.unit.providers.bedrock.golden import case_ids, golden, with_bytes

DEFAULT_MODEL = "anthropic.claude-3-7-sonnet-20250219-v1:0"
SERVICE = botocore.session.get_session().get_service_model("bedrock-runtime")


def botocore_complaints(value: dict[str, Any], shape_name: str) -> str:
    """What botocore's own validator says about `value` against Bedrock Runtime's service model ('' = fine)."""
    report = ParamValidator().validate(value, SERVICE.shape_for(shape_name))
    return report.generate_report() if report.has_errors() else ""


# ---------------------------------------------------------------- request


REQUESTS = golden("converse_request.json")["cases"]


@pytest.mark.parametrize("case", REQUESTS, ids=case_ids(REQUESTS))
def test_an_openai_request_becomes_the_golden_converse_arguments(case: dict[str, Any]) -> None:
    # Given a client's OpenAI chat body and the Bedrock model id it is routed to
    # When the Converse arguments are built
    request = converse_request(case["client"], case["model_id"])
    # Then they are the golden ones (system apart, turns alternating, tools and images translated)
    assert request == with_bytes(case["expected"])


@pytest.mark.parametrize("case", REQUESTS, ids=case_ids(REQUESTS))
def test_the_converse_arguments_are_valid_for_botocore(case: dict[str, Any]) -> None:
    # Given the arguments built from a golden body
    request = converse_request(case["client"], case["model_id"])
    # Then botocore would send them as they are (its validator knows Converse's input shape)
    assert botocore_complaints(request, "ConverseRequest") == ""


@pytest.mark.parametrize("case", REQUESTS, ids=case_ids(REQUESTS))
def test_building_the_request_leaves_the_clients_body_untouched(case: dict[str, Any]) -> None:
    body = copy.deepcopy(case["client"])
    converse_request(body, case["model_id"])
    assert body == case["client"]


def test_turns_alternate_and_tool_results_travel_in_user_turns() -> None:
    # Given every golden conversation
    for case in REQUESTS:
        messages = converse_request(case["client"], case["model_id"])["messages"]
        roles = [message["role"] for message in messages]
        # Then no two neighbouring turns share a role, as Converse requires
        assert all(a != b for a, b in itertools.pairwise(roles)), case["name"]
        for message in messages:
            if any("toolResult" in block for block in message["content"]):
                assert message["role"] == "user"


def test_a_data_url_image_is_sent_as_its_raw_bytes() -> None:
    png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
    body = {
        "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": f"data:image/png;base64,{png}"}]}]
    }
    image = converse_request(body, DEFAULT_MODEL)["messages"][0]["content"][0]["image"]
    assert image["format"] == "png"
    assert image["source"]["bytes"].startswith(b"\x89PNG\r\n")


INVALID = golden("converse_request_invalid.json")["cases"]


@pytest.mark.parametrize("case", INVALID, ids=case_ids(INVALID))
def test_what_converse_cannot_honour_is_refused_naming_the_parameter(case: dict[str, Any]) -> None:
    # Given a body asking for something Bedrock's Converse cannot do without changing the answer
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], **case["client"]}
    # When the Converse arguments are built
    with pytest.raises(InvalidRequest) as raised:
        converse_request(body, case.get("model_id", DEFAULT_MODEL))
    # Then the client gets a 400 that names the parameter, before anything is sent upstream
    assert raised.value.param == case["param"]
    assert raised.value.status == 400
    assert raised.value.message


def test_harmless_parameters_are_dropped() -> None:
    body = {
        "messages": [{"role": "user", "content": "hi"}],
        "user": "u-1",
        "metadata": {"a": "b"},
        "store": True,
        "service_tier": "auto",
        "prompt_cache_key": "k",
        "stream": True,
        "stream_options": {"include_usage": True},
        "prediction": {"type": "content", "content": "hi"},
    }
    assert converse_request(body, DEFAULT_MODEL) == {
        "modelId": DEFAULT_MODEL,
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
    }


# ---------------------------------------------------------------- answers


RESPONSES = golden("converse_response.json")["cases"]


@pytest.mark.parametrize("case", RESPONSES, ids=case_ids(RESPONSES))
def test_a_converse_answer_becomes_the_golden_chat_completion(case: dict[str, Any]) -> None:
    # Given an answer as boto3 returns it
    payload = with_bytes(case["response"])
    # When it is translated
    completion = converse_response(payload, case["model"], created=case["created"])
    # Then it is the golden OpenAI chat.completion
    assert completion == case["expected"]
    # And it survives JSON (what the gateway sends to the client)
    assert json.loads(json.dumps(completion)) == completion


@pytest.mark.parametrize("case", RESPONSES, ids=case_ids(RESPONSES))
def test_the_golden_answers_are_what_botocore_could_return(case: dict[str, Any]) -> None:
    payload = with_bytes(case["response"])
    payload.pop("ResponseMetadata")
    assert botocore_complaints(payload, "ConverseResponse") == ""


@pytest.mark.parametrize("case", RESPONSES, ids=case_ids(RESPONSES))
def test_the_gateway_bills_a_converse_answer_from_its_usage(case: dict[str, Any]) -> None:
    # Given a translated answer, When the gateway reads its usage the way it does for every provider
    usage = usage_from(converse_response(with_bytes(case["response"]), case["model"]))
    # Then prompt tokens include cache reads and writes, each also counted apart (they are priced apart)
    raw = case["response"]["usage"]
    cache_read, cache_write = raw.get("cacheReadInputTokens", 0), raw.get("cacheWriteInputTokens", 0)
    assert usage == Usage(raw["inputTokens"] + cache_read + cache_write, raw["outputTokens"], cache_read, cache_write)


def test_tool_call_arguments_are_the_tool_input_as_a_json_string() -> None:
    case = next(case for case in RESPONSES if case["name"] == "text_and_parallel_tool_uses")
    completion = converse_response(case["response"], case["model"])
    calls = completion["choices"][0]["message"]["tool_calls"]
    inputs = [block["toolUse"]["input"] for block in case["response"]["output"]["message"]["content"][1:]]
    assert [json.loads(call["function"]["arguments"]) for call in calls] == inputs


def test_an_answer_without_a_request_id_gets_a_fresh_completion_id() -> None:
    payload = {"output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}}, "stopReason": "end_turn"}
    first, second = (converse_response(payload, "m")["id"] for _ in range(2))
    assert first.startswith("chatcmpl-")
    assert first != second
    assert converse_response(payload, "m", request_id="abc")["id"] == "chatcmpl-abc"


def test_an_answer_without_usage_has_no_usage() -> None:
    payload = {"output": {"message": {"role": "assistant", "content": [{"text": "hi"}]}}, "stopReason": "end_turn"}
    assert "usage" not in converse_response(payload, "m")


@pytest.mark.parametrize("payload", [{}, {"output": {}}, {"output": {"message": {"role": "assistant"}}}])
def test_an_answer_without_a_message_is_an_upstream_failure(payload: dict[str, Any]) -> None:
    with pytest.raises(UpstreamFailure):
        converse_response(payload, "m")


# ---------------------------------------------------------------- streams


STREAMS = golden("converse_stream.json")["cases"]


@pytest.mark.parametrize("case", STREAMS, ids=case_ids(STREAMS))
def test_stream_events_become_the_golden_chunks(case: dict[str, Any]) -> None:
    # Given a ConverseStream's events in order
    translator = StreamTranslator(case["model"], request_id=case["request_id"], created=case["created"])
    for step in case["steps"]:
        # When each is fed to the translator
        if "raises" in step:
            # Then an exception event fails the stream with the golden status
            with pytest.raises(UpstreamFailure) as raised:
                translator.feed(step["event"])
            assert raised.value.status == step["raises"]["status"]
            continue
        # Then it gives the golden chunks
        assert translator.feed(step["event"]) == step["chunks"], step["event"]
    expected = case["usage"]
    assert translator.usage == (None if expected is None else Usage(**expected))


def test_streamed_tool_arguments_add_up_to_json() -> None:
    case = STREAMS[0]
    translator = StreamTranslator(case["model"])
    arguments: dict[int, str] = {}
    for step in case["steps"]:
        for chunk in translator.feed(step["event"]):
            for choice in chunk["choices"]:
                for call in choice["delta"].get("tool_calls", []):
                    arguments[call["index"]] = arguments.get(call["index"], "") + call["function"]["arguments"]
    assert {index: json.loads(text) for index, text in arguments.items()} == {0: {"city": "Paris"}, 1: {}}


def test_the_role_chunk_comes_first_even_without_message_start() -> None:
    translator = StreamTranslator("m", request_id="r")
    chunks = translator.feed({"contentBlockDelta": {"delta": {"text": "hi"}, "contentBlockIndex": 0}})
    assert [chunk["choices"][0]["delta"] for chunk in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "hi"},
    ]
    assert translator.feed({"messageStart": {"role": "assistant"}}) == []


def test_every_chunk_of_a_stream_shares_one_id_and_usage_is_only_in_the_last() -> None:
    case = STREAMS[0]
    translator = StreamTranslator(case["model"])
    chunks = [chunk for step in case["steps"] for chunk in translator.feed(step["event"])]
    assert len({chunk["id"] for chunk in chunks}) == 1
    assert [chunk for chunk in chunks if "usage" in chunk] == chunks[-1:]
    assert chunks[-1]["choices"] == []


def test_unknown_stream_events_are_ignored() -> None:
    translator = StreamTranslator("m")
    translator.feed({"messageStart": {"role": "assistant"}})
    assert translator.feed({"somethingNew": {"x": 1}}) == []
    assert translator.feed({"contentBlockStart": {"start": {"image": {}}, "contentBlockIndex": 3}}) == []


# ---------------------------------------------------------------- errors


ERRORS = golden("errors.json")["client_errors"]
KINDS = {"UpstreamRefusal": UpstreamRefusal, "UpstreamFailure": UpstreamFailure, "UpstreamTimeout": UpstreamTimeout}


@pytest.mark.parametrize("case", ERRORS, ids=case_ids(ERRORS))
def test_a_bedrock_error_code_has_the_golden_meaning(case: dict[str, Any]) -> None:
    # Given an error Bedrock answered, When the gateway reads it
    failure = failure_from(case["code"], case["message"], case["http_status"])
    # Then it is the client's fault (refusal) or the upstream's / the deployment's (failure), as golden
    assert type(failure) is KINDS[case["kind"]]
    assert getattr(failure, "status", None) == case["status"]
    if isinstance(failure, UpstreamRefusal):
        assert failure.message == case["message"]  # the client sees Bedrock's own explanation


IAM_DENIAL = (
    "User: arn:aws:sts::123456789012:assumed-role/gw-ChatFunctionRole-1A2B/gw-ChatFunction-XyZ is not authorized "
    "to perform: bedrock:InvokeModel on resource: arn:aws:bedrock:us-east-1:123456789012:inference-profile/x"
)


@pytest.mark.parametrize(("code", "status"), [("AccessDeniedException", 403), ("ResourceNotFoundException", 404),
                                              ("UnrecognizedClientException", 403)])  # fmt: skip
def test_what_names_the_operators_aws_account_is_not_passed_on(code: str, status: int) -> None:
    """A customer reads the failure's message: IAM's words name the operator's account id and role."""
    failure = failure_from(code, IAM_DENIAL, status)
    assert getattr(failure, "status", None) == status
    assert "123456789012" not in str(failure)
    assert "assumed-role" not in str(failure)


def test_throttling_keeps_the_retry_after_hint() -> None:
    failure = failure_from("ThrottlingException", "slow down", 429, retry_after="3")
    assert isinstance(failure, UpstreamFailure)
    assert failure.retry_after == "3"


STREAM_EXCEPTIONS = golden("errors.json")["stream_exceptions"]


@pytest.mark.parametrize("case", STREAM_EXCEPTIONS, ids=case_ids(STREAM_EXCEPTIONS))
def test_an_exception_event_fails_the_stream(case: dict[str, Any]) -> None:
    translator = StreamTranslator("m")
    translator.feed({"messageStart": {"role": "assistant"}})
    with pytest.raises(UpstreamFailure) as raised:
        translator.feed({case["event"]: {"message": case["message"]}})
    assert raised.value.status == case["status"]
    assert case["message"] in str(raised.value)
    # botocore's EventStreamError carries the same event name as its code
    assert stream_failure(case["event"], case["message"]).status == case["status"]


@pytest.mark.parametrize(("effort", "budget"), [("low", 1024), ("high", 4096), ("xhigh", 8192), ("max", 16384)])
def test_every_effort_claude_code_offers_is_a_thinking_budget_for_claude_on_bedrock(effort: str, budget: int) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 32_000}
    body["reasoning_effort"] = effort
    request = converse_request(body, "anthropic.claude-sonnet-4-20250514-v1:0")
    assert request["additionalModelRequestFields"] == {"thinking": {"type": "enabled", "budget_tokens": budget}}
