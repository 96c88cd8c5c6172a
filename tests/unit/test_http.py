"""Request validation errors become one actionable 400 that never echoes the client's input; every error
is answered in the envelope of the format its route speaks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from opentelemetry import trace
from pydantic import ValidationError

from gateway import errors
from gateway.formats.openai import ChatCompletionRequest
from gateway.http import _explain, create_app
from gateway.routes import LazyRoute, Routes

SECRET = "sk-live-8QvN2kT5pXr7LmZ3wYc9HbJ4"
MESSAGES = [{"role": "user", "content": "Hello"}]


def fastapi_errors(payload: Any) -> list[dict[str, Any]]:
    """The error list FastAPI hands to the handler for a JSON body `payload`: pydantic's, under `body`."""
    try:
        ChatCompletionRequest.model_validate(payload, from_attributes=True)
    except ValidationError as exc:
        return [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
    raise AssertionError(f"{payload!r} is valid")


def json_errors(raw: str) -> list[dict[str, Any]]:
    try:
        ChatCompletionRequest.model_validate_json(raw)
    except ValidationError as exc:
        return [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
    raise AssertionError(f"{raw!r} is valid")


def explain(payload: Any) -> errors.GatewayError:
    return _explain(fastapi_errors(payload))


@pytest.mark.parametrize("raw", ['{"model": "gpt-4o", "messages": [', "{bad", "model=gpt-4o", "{'model': 1}"])
def test_a_body_that_is_not_json_is_invalid_json(raw: str) -> None:
    error = _explain(json_errors(raw))
    assert isinstance(error, errors.InvalidJson)
    assert (error.status, error.code) == (400, "invalid_json")


@pytest.mark.parametrize("payload", [{}, {"messages": MESSAGES}, {"model": "", "messages": MESSAGES}])
def test_a_missing_or_empty_model_is_model_required(payload: dict[str, Any]) -> None:
    error = explain(payload)
    assert (error.status, error.code, error.param) == (400, "model_required", "model")


@pytest.mark.parametrize("payload", [{"model": "gpt-4o"}, {"model": "gpt-4o", "messages": []}])
def test_missing_or_empty_messages_are_messages_required(payload: dict[str, Any]) -> None:
    error = explain(payload)
    assert (error.status, error.code, error.param) == (400, "messages_required", "messages")


@pytest.mark.parametrize("payload", [[], [{"model": "gpt-4o"}], "text", 42, None, True])
def test_a_body_that_is_not_an_object_is_an_invalid_request(payload: Any) -> None:
    error = explain(payload)
    assert type(error) is errors.InvalidRequest
    assert (error.status, error.code) == (400, "invalid_request")
    assert "JSON object" in error.message


def test_an_absent_body_is_an_invalid_request() -> None:
    # FastAPI reports a required body that was not sent as `missing` at ("body",)
    error = _explain([{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}])
    assert (error.code, error.param) == ("invalid_request", None)


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"model": "gpt-4o", "messages": [{"role": "robot", "content": "hi"}]}, "messages.0.role"),
        ({"model": "gpt-4o", "messages": MESSAGES, "max_tokens": 0}, "max_tokens"),
        ({"model": "gpt-4o", "messages": MESSAGES, "n": 500}, "n"),
        ({"model": "gpt-4o", "messages": MESSAGES, "stream": "sometimes"}, "stream"),
    ],
)
def test_other_problems_name_the_field_to_fix(payload: dict[str, Any], field: str) -> None:
    error = explain(payload)
    assert (error.status, error.code, error.param) == (400, "invalid_request", field)
    assert f"`{field}`" in error.message


def test_the_first_problem_is_reported() -> None:
    assert explain({"messages": []}).code == "model_required"


def test_an_empty_error_list_is_still_an_invalid_request() -> None:
    assert _explain([]).code == "invalid_request"


LEAKY = [
    {"model": "gpt-4o", "messages": [{"role": SECRET, "content": "hi"}]},
    {"model": "gpt-4o", "messages": [{"role": "user", "content": {"text": SECRET}}]},
    {"model": "gpt-4o", "messages": [{"role": "user", "content": [SECRET]}]},
    {"model": "gpt-4o", "messages": [SECRET]},
    {"model": "gpt-4o", "messages": SECRET},
    {"model": "gpt-4o", "messages": {SECRET: SECRET}},
    {"model": {"id": SECRET}, "messages": MESSAGES},
    {"model": SECRET * 10, "messages": MESSAGES},
    {"model": "gpt-4o", "messages": MESSAGES, "max_tokens": SECRET},
    {"model": "gpt-4o", "messages": MESSAGES, "max_completion_tokens": [SECRET]},
    {"model": "gpt-4o", "messages": MESSAGES, "n": SECRET},
    {"model": "gpt-4o", "messages": MESSAGES, "stream": SECRET},
    {"model": "gpt-4o", "messages": MESSAGES, "stream_options": SECRET},
    {"model": "gpt-4o", "messages": MESSAGES, "stream_options": {"include_usage": SECRET}},
    SECRET,
    [SECRET],
]


@pytest.mark.parametrize("payload", LEAKY)
def test_the_error_never_echoes_the_offending_value(payload: Any) -> None:
    # Given a body whose invalid value is a secret the client pasted in the wrong place
    error = explain(payload)
    # When the 400 is rendered, Then the secret appears nowhere in it
    assert error.status == 400
    assert SECRET[:12] not in json.dumps(error.openai_body())


def test_invalid_json_around_a_secret_is_not_echoed() -> None:
    error = _explain(json_errors('{"model": "gpt-4o", "api_key": "' + SECRET + '", }'))
    assert error.code == "invalid_json"
    assert SECRET[:12] not in json.dumps(error.openai_body())


# ---------------------------------------------------------------- through a real FastAPI app, in process


@pytest.fixture(scope="module")
def client() -> TestClient:
    router = Routes()

    @router.post("/v1/chat/completions")
    async def echo(payload: ChatCompletionRequest) -> dict[str, Any]:
        return payload.wire_body()

    return TestClient(create_app(router), raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"model": "gpt-4o", "messages": [', "invalid_json"),
        (b"", "invalid_request"),
        (b"null", "invalid_request"),
        (b"[]", "invalid_request"),
        (b'{"messages": [{"role": "user", "content": "hi"}]}', "model_required"),
        (b'{"model": "gpt-4o", "messages": []}', "messages_required"),
        (b'{"model": "gpt-4o", "messages": [{"role": "user"}], "n": 0}', "invalid_request"),
    ],
)
def test_the_app_answers_bad_bodies_with_the_openai_error_envelope(client: TestClient, body: bytes, code: str) -> None:
    response = client.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert set(response.json()["error"]) == {"message", "type", "code", "param", "status"}
    assert response.headers["X-Trace-ID"]


def test_a_route_is_built_when_a_request_first_reaches_its_path() -> None:
    routes = Routes()

    @routes.get("/first")
    async def first() -> dict[str, str]:
        return {"route": "first"}

    @routes.get("/second")
    async def second() -> dict[str, str]:
        return {"route": "second"}

    app = create_app(routes)
    answer = TestClient(app).get("/second")

    assert answer.json() == {"route": "second"}
    first_route, second_route = app.router.routes[:2]
    assert isinstance(first_route, LazyRoute)
    assert isinstance(second_route, LazyRoute)
    assert first_route.path == "/first"
    assert first_route.methods == {"GET"}
    assert not first_route.is_built()
    assert second_route.is_built()


def test_the_app_passes_a_valid_body_through(client: TestClient) -> None:
    body = {"model": "gpt-4o", "messages": MESSAGES, "temperature": 0.3}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    assert response.json() == body


@pytest.fixture
def chat_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """The chat function's app, with a 1 KiB body limit."""
    from devtools.devserver import function_module
    from gateway import caches

    monkeypatch.setenv("MAX_BODY_BYTES", "1024")
    caches.reset()
    yield TestClient(function_module("chat").app)
    monkeypatch.undo()
    caches.reset()


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "envelope"),
    [
        ("POST", "/v1/messages", "x" * 2048, 413, {"type": "error", "error": {"type": "request_too_large"}}),
        ("GET", "/v1/messages", None, 405, {"type": "error", "error": {"type": "invalid_request_error"}}),
        ("POST", "/v1/messages", "{}", 401, {"type": "error", "error": {"type": "authentication_error"}}),
        ("POST", "/v1beta/models/m:generateContent", "x" * 2048, 413, {"error": {"status": "INVALID_ARGUMENT"}}),
        ("POST", "/v1/models/m:streamGenerateContent", "{}", 401, {"error": {"status": "UNAUTHENTICATED"}}),
        ("POST", "/v1/chat/completions", "x" * 2048, 413, {"error": {"code": "request_too_large"}}),
        ("GET", "/v1/models", None, 401, {"error": {"code": "invalid_api_key"}}),
        ("POST", "/v1/nothing-here", "{}", 404, {"error": {"code": "not_found"}}),
    ],
)
def test_each_route_answers_errors_in_its_formats_envelope(
    chat_app: TestClient, method: str, path: str, body: str | None, status: int, envelope: dict[str, Any]
) -> None:
    """Given the chat function's routes (OpenAI's, Anthropic's, Gemini's)
    When a request is refused before anything else (too large, wrong method, no key, no such route)
    Then the answer is in the envelope of the format the route speaks, whatever its path looks like."""
    response = chat_app.request(method, path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == status
    assert contains(response.json(), envelope)


def contains(answer: Any, expected: Any) -> bool:
    if isinstance(expected, dict):
        return isinstance(answer, dict) and all(contains(answer.get(key), value) for key, value in expected.items())
    return bool(answer == expected)


@pytest.mark.parametrize("header", ["[" * 5000, "{" * 4000, "x" * 9000])
def test_a_clients_own_lambda_context_header_cannot_fail_a_request(header: str) -> None:
    # Given any app (the functions under Mangum get this header from the client, not the Web Adapter)
    router = Routes()

    @router.get("/ping")
    def ping() -> dict[str, str]:
        return {"ok": "yes"}

    with TestClient(create_app(router)) as client:
        response = client.get("/ping", headers={"x-amzn-lambda-context": header})
    assert response.status_code == 200
    assert response.json() == {"ok": "yes"}


class RecordingTracerProvider(trace.TracerProvider):
    """An OpenTelemetry SDK as an operator's tracing layer would install one: it keeps every span."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, dict[str, Any]]] = []

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        spans = self.spans

        class Recording(trace.NoOpTracer):
            def start_span(self, name: str, *args: Any, **kwargs: Any) -> trace.Span:
                spans.append((name, dict(kwargs.get("attributes") or {})))
                return trace.INVALID_SPAN

        return Recording()


def test_fastapis_own_telemetry_records_nothing_even_where_opentelemetry_is_configured(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FastAPI traces requests itself once a tracer provider is set (an operator's OpenTelemetry layer),
    with the URL's query, where Gemini's clients may put the key (`?key=`): the gateway traces with
    X-Ray and its own redaction, so FastAPI's is off."""
    provider = RecordingTracerProvider()
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    body = {"model": "gpt-4o", "messages": MESSAGES}
    response = client.post(f"/v1/chat/completions?key={SECRET}", json=body)
    assert response.status_code == 200
    assert provider.spans == []
