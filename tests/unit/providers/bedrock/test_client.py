"""BedrockClient against a real boto3 `bedrock-runtime` client: botocore's Stubber for Converse, and a
local Bedrock endpoint over HTTP (tests/unit/providers/bedrock/fake_bedrock.py) for ConverseStream, whose
binary event stream botocore's own parser reads. Stubber cannot produce an EventStream, hence the endpoint.
A fake boto3 client object also checks that exception events given as dicts fail the stream."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import boto3
import pytest
from botocore.stub import Stubber

from gateway.config import get_settings
from gateway.errors import InvalidRequest
from gateway.providers.bedrock.client import BedrockClient, forget_runtime_clients
from gateway.providers.credentials import Endpoint
from gateway.providers.errors import UpstreamFailure, UpstreamRefusal, UpstreamTimeout
from tests.support.fake_bedrock import FakeBedrock
from tests.support.servers import ServerThread
from tests.unit.providers.bedrock.golden import golden, on_the_wire, with_bytes

REGION = "us-east-1"
KINDS = {"UpstreamRefusal": UpstreamRefusal, "UpstreamFailure": UpstreamFailure, "UpstreamTimeout": UpstreamTimeout}


def client_for(endpoint_url: str = "", runtime: Any = None) -> BedrockClient:
    """A client for the region, at `endpoint_url` (a local endpoint), or over `runtime` (a boto3 client)."""
    return BedrockClient(Endpoint(endpoint_url, None, REGION), runtime=runtime)


def case(file: str, name: str, key: str = "cases") -> dict[str, Any]:
    return next(item for item in golden(file)[key] if item["name"] == name)


def without_created(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in item.items() if key != "created"} for item in items]


@pytest.fixture(autouse=True)
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Dummy credentials from the environment, as the Lambda role's come; no shared config, no bearer token."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_BEARER_TOKEN_BEDROCK", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    forget_runtime_clients()
    yield
    forget_runtime_clients()
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[FakeBedrock, str]]:
    fake = FakeBedrock()
    thread = ServerThread(fake.app).start()
    yield fake, thread.url
    fake.gate.set()
    thread.stop()


@pytest.fixture
def bedrock(server: tuple[FakeBedrock, str]) -> Iterator[FakeBedrock]:
    fake, _ = server
    fake.reset()
    yield fake
    fake.gate.set()


@pytest.fixture
def over_http(server: tuple[FakeBedrock, str]) -> BedrockClient:
    return client_for(server[1])


def short_timeout(monkeypatch: pytest.MonkeyPatch, seconds: str) -> None:
    monkeypatch.setenv("UPSTREAM_TIMEOUT_SECONDS", seconds)
    get_settings.cache_clear()


@asynccontextmanager
async def stream_chat(
    client: BedrockClient, body: dict[str, Any], model_id: str
) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
    """The client's stream, read chunk by chunk."""
    async with client.stream(body, model_id) as events:

        async def chunks() -> AsyncIterator[dict[str, Any]]:
            async for event in events:
                for chunk in event.chunks:
                    yield dict(chunk)

        yield chunks()


async def read_stream(client: BedrockClient, body: dict[str, Any], model_id: str, into: list[dict[str, Any]]) -> None:
    async with stream_chat(client, body, model_id) as chunks:
        async for chunk in chunks:
            into.append(chunk)


# ---------------------------------------------------------------- the boto3 client


def test_importing_the_client_does_not_import_boto3() -> None:
    # Cold starts: nothing reaches for AWS (or even loads boto3) at import time
    code = "import sys, gateway.providers.bedrock.client; print('boto3' in sys.modules, 'botocore' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


def test_the_boto3_client_makes_one_attempt_and_reads_for_the_upstream_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    short_timeout(monkeypatch, "42")
    runtime = client_for()._runtime()
    assert runtime.meta.service_model.service_name == "bedrock-runtime"
    assert runtime.meta.region_name == REGION
    # botocore would retry a read timeout: a generation Bedrock may still bill, made twice
    assert runtime.meta.config.retries == {"mode": "standard", "total_max_attempts": 1}
    assert runtime.meta.config.read_timeout == 42
    # one boto3 client per region and settings, shared by every BedrockClient (clients are costly to make)
    assert client_for()._runtime() is runtime


# ---------------------------------------------------------------- Converse with botocore's Stubber


def stubbed_runtime() -> Any:
    return boto3.session.Session().client(
        "bedrock-runtime", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.mark.parametrize(
    ("request_name", "response_name"),
    [
        ("tools_with_a_tool_result_and_a_follow_up", "text_and_parallel_tool_uses"),
        ("base64_images", "text_with_prompt_cache_reads"),
        ("reasoning_effort_on_claude_becomes_a_thinking_budget", "reasoning_then_text"),
    ],
)
def test_chat_sends_the_golden_converse_call_and_answers_in_openai_format(
    request_name: str, response_name: str
) -> None:
    # Given a real bedrock-runtime client whose Converse answer is stubbed
    request = case("converse_request.json", request_name)
    response = case("converse_response.json", response_name)
    runtime = stubbed_runtime()
    with Stubber(runtime) as stubber:
        # (the stub also checks that the call's arguments are exactly the golden ones)
        stubber.add_response("converse", with_bytes(response["response"]), with_bytes(request["expected"]))
        # When the gateway asks for a completion
        completion = anyio.run(client_for(runtime=runtime).complete, request["client"], request["model_id"])
        stubber.assert_no_pending_responses()
    # Then it gets the golden OpenAI completion, named after the Bedrock model
    expected = {**response["expected"], "model": request["model_id"]}
    assert without_created([completion]) == without_created([expected])
    assert isinstance(completion["created"], int)


@pytest.mark.parametrize("error", golden("errors.json")["client_errors"], ids=lambda error: error["code"])
def test_a_converse_client_error_has_its_golden_meaning(error: dict[str, Any]) -> None:
    runtime = stubbed_runtime()
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    with Stubber(runtime) as stubber:
        for _ in range(2 if error["code"] == "ThrottlingException" else 1):  # throttled: asked again once
            stubber.add_client_error("converse", error["code"], error["message"], http_status_code=error["http_status"])
        with pytest.raises((UpstreamFailure, UpstreamRefusal)) as raised:
            anyio.run(client_for(runtime=runtime).complete, body, "anthropic.claude-3-haiku-20240307-v1:0")
    assert type(raised.value) is KINDS[error["kind"]]
    assert getattr(raised.value, "status", None) == error["status"]


def test_a_request_converse_cannot_honour_never_reaches_bedrock() -> None:
    runtime = stubbed_runtime()
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 3}
    with Stubber(runtime), pytest.raises(InvalidRequest) as raised:  # no stubbed answer: a call would fail the test
        anyio.run(client_for(runtime=runtime).complete, body, "anthropic.claude-3-haiku-20240307-v1:0")
    assert raised.value.param == "n"


# ---------------------------------------------------------------- over HTTP, against a local Bedrock endpoint


def test_chat_over_http_signs_with_the_roles_credentials_and_sends_bedrocks_json(
    bedrock: FakeBedrock, over_http: BedrockClient
) -> None:
    # Given Bedrock will answer with a recorded tool-use answer
    request = case("converse_request.json", "base64_images")
    response = case("converse_response.json", "text_and_parallel_tool_uses")
    wire = on_the_wire({k: v for k, v in response["response"].items() if k != "ResponseMetadata"})
    bedrock.answer_json(wire, request_id=response["response"]["ResponseMetadata"]["RequestId"])
    # When the gateway asks for a completion with images
    completion = anyio.run(over_http.complete, request["client"], request["model_id"])
    # Then Bedrock got a SigV4-signed Converse call for the model, images base64 in its JSON
    (seen,) = bedrock.seen
    assert seen.path == f"/model/{request['model_id']}/converse"
    assert seen.headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert f"/{REGION}/bedrock/aws4_request" in seen.headers["authorization"]
    assert seen.body == on_the_wire({k: v for k, v in request["expected"].items() if k != "modelId"})
    # And the answer is the golden completion, its id from Bedrock's request id
    assert without_created([completion]) == without_created([{**response["expected"], "model": request["model_id"]}])


@pytest.mark.parametrize("name", ["text_then_two_tool_uses_then_metadata", "signed_reasoning_then_text"])
def test_stream_chat_reads_bedrocks_event_stream_into_the_golden_chunks(
    bedrock: FakeBedrock, over_http: BedrockClient, name: str
) -> None:
    # Given Bedrock streams a recorded sequence of events as binary event-stream frames
    stream = case("converse_stream.json", name)
    bedrock.answer_stream([step["event"] for step in stream["steps"]], request_id=stream["request_id"])
    # When the gateway reads the stream
    chunks: list[dict[str, Any]] = []
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    anyio.run(read_stream, over_http, body, stream["model"], chunks)
    # Then it gets the golden OpenAI chunks, in order, ending with the usage-only chunk
    expected = [chunk for step in stream["steps"] for chunk in step["chunks"]]
    assert without_created(chunks) == without_created(expected)
    (seen,) = bedrock.seen
    assert seen.path == f"/model/{stream['model']}/converse-stream"


def test_an_exception_event_mid_stream_fails_the_iterator_after_what_was_sent(
    bedrock: FakeBedrock, over_http: BedrockClient
) -> None:
    stream = case("converse_stream.json", "throttled_in_the_middle")
    bedrock.answer_stream([step["event"] for step in stream["steps"]], request_id=stream["request_id"])
    chunks: list[dict[str, Any]] = []
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with pytest.raises(UpstreamFailure) as raised:
        anyio.run(read_stream, over_http, body, stream["model"], chunks)
    assert raised.value.status == 429
    assert "Too many tokens" in str(raised.value)
    assert without_created(chunks) == without_created([c for step in stream["steps"][:2] for c in step["chunks"]])


def test_chunks_arrive_as_bedrock_sends_them(bedrock: FakeBedrock, over_http: BedrockClient) -> None:
    # Given Bedrock sends two events, then holds the rest back
    stream = case("converse_stream.json", "text_then_two_tool_uses_then_metadata")
    bedrock.answer_stream([step["event"] for step in stream["steps"]], request_id="r-held", hold_after=2)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}

    async def scenario() -> tuple[list[str], int]:
        async with stream_chat(over_http, body, stream["model"]) as chunks:
            # When the gateway reads while Bedrock holds back
            first = [await chunks.__anext__(), await chunks.__anext__()]
            # Then the first chunks are already there
            assert not bedrock.gate.is_set()
            bedrock.gate.set()
            rest = [chunk async for chunk in chunks]
        return [c["choices"][0]["delta"].get("content", "") for c in first], len(rest)

    first, rest = anyio.run(scenario)
    assert first == ["", "Let me "]
    assert rest == sum(len(step["chunks"]) for step in stream["steps"]) - 2


def test_leaving_the_stream_early_closes_it(bedrock: FakeBedrock, over_http: BedrockClient) -> None:
    stream = case("converse_stream.json", "text_then_two_tool_uses_then_metadata")
    bedrock.answer_stream([step["event"] for step in stream["steps"]], request_id="r-left", hold_after=2)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}

    async def scenario() -> None:
        async with stream_chat(over_http, body, stream["model"]) as chunks:
            await chunks.__anext__()
        # the client went away: the connection to Bedrock is closed, not left streaming

    anyio.run(scenario)
    assert bedrock.stream_closed.wait(5)


def test_throttling_is_retried_once_then_reported_as_429(bedrock: FakeBedrock, over_http: BedrockClient) -> None:
    bedrock.answer_error(429, "ThrottlingException", "Too many requests, please wait before trying again.", times=2)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(UpstreamFailure) as raised:
        anyio.run(over_http.complete, body, "anthropic.claude-3-haiku-20240307-v1:0")
    assert raised.value.status == 429
    assert len(bedrock.seen) == 2  # a throttled call is asked again once (Bedrock made nothing)


def test_a_validation_error_is_the_clients_with_bedrocks_message(
    bedrock: FakeBedrock, over_http: BedrockClient
) -> None:
    message = "A conversation must alternate between user and assistant roles."
    bedrock.answer_error(400, "ValidationException", message)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(UpstreamRefusal) as raised:
        anyio.run(over_http.complete, body, "anthropic.claude-3-haiku-20240307-v1:0")
    assert (raised.value.status, raised.value.message) == (400, message)
    assert len(bedrock.seen) == 1


def test_a_stream_bedrock_refuses_fails_on_opening(bedrock: FakeBedrock, over_http: BedrockClient) -> None:
    bedrock.answer_error(
        403, "AccessDeniedException", "You don't have access to the model with the specified model ID."
    )
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with pytest.raises(UpstreamFailure) as raised:
        anyio.run(read_stream, over_http, body, "anthropic.claude-3-opus-20240229-v1:0", [])
    assert raised.value.status == 403  # the deployment lacks model access: not the client's fault


def test_a_slow_answer_is_an_upstream_timeout(
    bedrock: FakeBedrock, server: tuple[FakeBedrock, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    short_timeout(monkeypatch, "0.3")
    for _ in range(2):
        bedrock.answer_json({}, request_id="r-slow", delay=1.5)
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(UpstreamTimeout):
        anyio.run(client_for(server[1]).complete, body, "anthropic.claude-3-haiku-20240307-v1:0")


def test_a_stream_that_stalls_is_an_upstream_timeout(
    bedrock: FakeBedrock, server: tuple[FakeBedrock, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    short_timeout(monkeypatch, "0.5")
    stream = case("converse_stream.json", "text_then_two_tool_uses_then_metadata")
    bedrock.answer_stream([step["event"] for step in stream["steps"]], request_id="r-stall", hold_after=2)
    chunks: list[dict[str, Any]] = []
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with pytest.raises(UpstreamTimeout):
        anyio.run(read_stream, client_for(server[1]), body, stream["model"], chunks)
    assert len(chunks) == 2


def test_an_unreachable_endpoint_is_an_upstream_failure() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    with pytest.raises(UpstreamFailure) as raised:
        anyio.run(client_for(f"http://127.0.0.1:{port}").complete, body, "m")
    assert not isinstance(raised.value, UpstreamRefusal)


# ---------------------------------------------------------------- a fake boto3 client giving events as dicts


class FakeStream:
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.events = events
        self.closed = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.events)

    def close(self) -> None:
        self.closed = True


class FakeRuntime:
    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.stream = FakeStream(events)
        self.calls: list[dict[str, Any]] = []

    def converse_stream(self, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(kwargs)
        return {"ResponseMetadata": {"RequestId": "req-1", "HTTPStatusCode": 200}, "stream": self.stream}


@pytest.mark.parametrize("error", golden("errors.json")["stream_exceptions"], ids=lambda error: error["event"])
def test_an_exception_event_from_the_sdk_fails_the_stream_and_closes_it(error: dict[str, Any]) -> None:
    events: list[dict[str, Any]] = [
        {"messageStart": {"role": "assistant"}},
        {"contentBlockDelta": {"delta": {"text": "Hel"}, "contentBlockIndex": 0}},
        {error["event"]: {"message": error["message"]}},
        {"contentBlockDelta": {"delta": {"text": "never"}, "contentBlockIndex": 0}},
    ]
    runtime = FakeRuntime(events)
    chunks: list[dict[str, Any]] = []
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    with pytest.raises(UpstreamFailure) as raised:
        anyio.run(read_stream, client_for(runtime=runtime), body, "anthropic.claude-3-haiku-20240307-v1:0", chunks)
    assert raised.value.status == error["status"]
    assert [chunk["choices"][0]["delta"] for chunk in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "Hel"},
    ]
    assert {chunk["id"] for chunk in chunks} == {"chatcmpl-req-1"}
    assert runtime.stream.closed
    assert runtime.calls == [
        {
            "modelId": "anthropic.claude-3-haiku-20240307-v1:0",
            "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        }
    ]
