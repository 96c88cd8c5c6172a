"""How each function starts in Lambda: chat, images and audio as uvicorn behind the Lambda Web Adapter
(so they can stream), the other API functions as `app.handler` = Mangum(app), the sweeper on a schedule."""

from __future__ import annotations

import json
import os
import re

import pytest

from devtools.devserver import function_module
from devtools.template import ROOT, api_routes, code_uri
from gateway.config import Settings
from gateway.http import INTERNAL_PATHS
from tests.infrastructure.tooling import (
    BUFFERED_FUNCTIONS,
    STREAMING_FUNCTIONS,
    app_routes,
    functions,
    logical_id,
    properties,
)
from tests.support.lambda_events import LambdaContext, rest_event

BUFFERED_INTEGRATION_MS = 29_000  # API Gateway's default (and, without a quota increase, maximum)
STREAM_IDLE_SECONDS = 300  # a regional REST API cuts a response stream after 5 minutes without a byte
# Functions whose answers are whole bodies (JSON, audio): their first byte is also their last.
WHOLE_BODY_FUNCTIONS = ("images", "audio")
# Functions that reserve credits before an upstream call (ImagesWorkerFunction works image tasks).
RESERVING_FUNCTIONS = ("ChatFunction", "ImagesFunction", "AudioFunction", "ImagesWorkerFunction")


def _globals_function() -> dict:  # type: ignore[type-arg]
    from devtools.template import load_template

    return dict(load_template()["Globals"]["Function"])


def _timeout(function: str) -> int:
    return int(properties(function).get("Timeout", _globals_function()["Timeout"]))


@pytest.mark.parametrize("name", STREAMING_FUNCTIONS)
def test_streaming_functions_run_run_sh_behind_the_lambda_web_adapter(name: str) -> None:
    """Given the Python managed runtime cannot stream a response
    When chat, images or audio starts
    Then its handler is run.sh and the adapter's wrapper runs in response_stream mode."""
    function = properties(logical_id(name))
    env = function["Environment"]["Variables"]

    assert function["Handler"] == "run.sh"
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert env["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert (code_uri(logical_id(name)) / "run.sh").is_file()


@pytest.mark.parametrize("name", STREAMING_FUNCTIONS)
def test_streaming_functions_use_the_web_adapter_layer_for_their_architecture(name: str) -> None:
    """Given the functions run on arm64
    When a streaming function adds the Lambda Web Adapter layer
    Then it is the Arm64 build of that layer (the x86 one cannot run /opt/bootstrap on Graviton)."""
    layers = [str(layer) for layer in properties(logical_id(name))["Layers"]]

    assert _globals_function()["Architectures"] == ["arm64"]
    assert any("LambdaAdapterLayerArm64" in layer for layer in layers), layers


@pytest.mark.parametrize("name", STREAMING_FUNCTIONS)
def test_readiness_check_hits_a_route_the_app_serves(name: str) -> None:
    """Given the adapter waits for the readiness path to answer before the first invocation
    When a streaming function configures that path
    Then it is an internal path every app serves (otherwise cold starts hang until timeout)."""
    env = properties(logical_id(name))["Environment"]["Variables"]
    path = env.get("AWS_LWA_READINESS_CHECK_PATH", "/")
    served = {path for method, path in app_routes(function_module(name).app) if method == "GET"}

    assert path in INTERNAL_PATHS
    assert path in served


@pytest.mark.parametrize("name", STREAMING_FUNCTIONS)
def test_run_sh_is_executable_in_the_repository(name: str) -> None:
    """Given `sam build` copies file modes as they are in the checkout
    When run.sh is not executable
    Then Lambda cannot exec the handler; so it must be executable here."""
    assert os.access(ROOT / "functions" / name / "run.sh", os.X_OK)


@pytest.mark.parametrize("function", RESERVING_FUNCTIONS)
def test_reservations_outlive_the_longest_request(function: str) -> None:
    """Given the sweeper refunds reservations past their expiry
    When a request runs for its function's whole Timeout
    Then its reservation must still be live, i.e. RESERVATION_TTL_SECONDS > Timeout."""
    env = (properties(function).get("Environment") or {}).get("Variables") or {}
    default = Settings.model_fields["reservation_ttl_seconds"].default
    ttl = int(env.get("RESERVATION_TTL_SECONDS", default))

    assert ttl > _timeout(function), f"reservations expire after {ttl}s but a request may run {_timeout(function)}s"


@pytest.mark.parametrize("route", api_routes(), ids=lambda route: f"{route.method} {route.path}")
def test_no_function_outlives_what_api_gateway_waits_for_it(route) -> None:  # type: ignore[no-untyped-def]
    """Given API Gateway answers 504 and drops the response once it stops waiting for a function
    When a route's function may run longer than that (and settle a charge after the client left)
    Then the template says so: a buffered route's function ends before its integration timeout
    (29 s); a streamed route's before its own, and a function whose first byte is its whole answer
    before the stream's idle timeout too."""
    (event,) = [
        event["Properties"]
        for event in functions()[route.function]["Properties"]["Events"].values()
        if event["Type"] == "Api"
        and (event["Properties"]["Method"].upper(), event["Properties"]["Path"]) == (route.method, route.path)
    ]
    integration_ms = int(event.get("TimeoutInMillis", BUFFERED_INTEGRATION_MS))
    timeout = _timeout(route.function)

    if not route.streaming:
        assert integration_ms <= BUFFERED_INTEGRATION_MS
        assert timeout * 1000 < integration_ms, f"{route.function} runs up to {timeout}s behind {integration_ms} ms"
        return
    assert timeout * 1000 <= integration_ms, f"{route.function} runs up to {timeout}s behind {integration_ms} ms"
    if route.function in {logical_id(name) for name in WHOLE_BODY_FUNCTIONS}:
        assert timeout < STREAM_IDLE_SECONDS, f"{route.function} may send nothing for {timeout}s"


@pytest.mark.parametrize("name", BUFFERED_FUNCTIONS)
def test_buffered_functions_answer_proxy_events_through_their_app(name: str) -> None:
    """Given keys and usage answer API Gateway proxy events directly
    When Lambda calls their Handler `app.handler` with a REST proxy event for an unknown path
    Then the module's FastAPI app answers it (through Mangum) in the gateway's error envelope."""
    module = function_module(name)

    assert properties(logical_id(name))["Handler"] == "app.handler"
    answer = module.handler(rest_event("GET", "/no/such/path", {"Host": "x"}), LambdaContext())
    assert answer["statusCode"] == 404
    assert json.loads(answer["body"])["error"]["code"] == "not_found"


@pytest.mark.parametrize("name", BUFFERED_FUNCTIONS)
def test_buffered_functions_do_not_start_the_web_adapter(name: str) -> None:
    """Given only the chat function runs behind the Web Adapter
    When a buffered function starts
    Then it has no exec wrapper that would try to start a web server instead of Mangum."""
    env = (properties(logical_id(name)).get("Environment") or {}).get("Variables") or {}

    assert "AWS_LAMBDA_EXEC_WRAPPER" not in env


def test_sweeper_runs_on_two_schedules_and_each_run_ends_before_the_next() -> None:
    """Given expired reservations must be refunded even when no request comes in, and the ledger
    audited
    When the template wires the sweeper
    Then EventBridge invokes `app.handler` on two schedules, one that sweeps (no input) and one that
    audits ({"task": "audit"}), and a run times out before the next sweep starts (no reserved
    concurrency needed for that; overlapping sweeps would still settle each reservation once, by the
    settle transaction's condition)."""
    sweeper = properties("SweeperFunction")
    events = list((sweeper.get("Events") or {}).values())
    schedules = [str(event["Properties"]["Schedule"]) for event in events if event["Type"] == "Schedule"]
    intervals = []
    for schedule in schedules:
        every = re.fullmatch(r"rate\((\d+) (minute|minutes|hour|hours)\)", schedule)
        assert every, f"expected rate(N minutes|hours): {schedule}"
        intervals.append(int(every.group(1)) * (60 if every.group(2).startswith("minute") else 3600))

    assert sweeper["Handler"] == "app.handler"
    assert [event["Type"] for event in events] == ["Schedule", "Schedule"]
    inputs = [json.loads(event["Properties"].get("Input", "{}")) for event in events]
    assert inputs == [{}, {"task": function_module("sweeper").AUDIT_TASK}]
    assert int(sweeper["Timeout"]) < min(intervals), f"a run may take {sweeper['Timeout']}s, past the next sweep"
    assert callable(function_module("sweeper").handler)


def test_no_function_reserves_concurrency() -> None:
    """Given a new AWS account may have a concurrency limit of 10, and Lambda keeps at least 10 of it
    unreserved
    When any function reserves (or provisions) concurrency
    Then CloudFormation rejects it and the whole first `sam deploy` fails: so none does."""
    from devtools.template import load_template

    declared = {"Globals": _globals_function(), **{name: body["Properties"] for name, body in functions().items()}}
    for name, body in load_template()["Resources"].items():
        if body.get("Type") == "AWS::Lambda::Function":
            declared[name] = body["Properties"]
    settings = ("ReservedConcurrentExecutions", "ProvisionedConcurrencyConfig")
    reserving = {name: {key: props[key] for key in settings if key in props} for name, props in declared.items()}

    assert {name: found for name, found in reserving.items() if found} == {}
