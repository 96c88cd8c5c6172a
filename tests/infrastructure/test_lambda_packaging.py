"""How each function starts in Lambda: the chat function as uvicorn behind the Lambda Web Adapter
(so it can stream), the other API functions as `app.handler` = Mangum(app), the sweeper on a schedule."""

from __future__ import annotations

import json
import os

import pytest

from devtools.devserver import function_module
from devtools.template import ROOT, code_uri
from gateway.http import INTERNAL_PATHS
from tests.infrastructure.tooling import API_FUNCTIONS, STREAMING_FUNCTION, app_routes, logical_id, properties
from tests.support.lambda_events import LambdaContext, rest_event

BUFFERED_FUNCTIONS = [name for name in API_FUNCTIONS if name != STREAMING_FUNCTION]


def _globals_function() -> dict:  # type: ignore[type-arg]
    from devtools.template import load_template

    return dict(load_template()["Globals"]["Function"])


def test_chat_runs_run_sh_behind_the_lambda_web_adapter() -> None:
    """Given the Python managed runtime cannot stream a response
    When the chat function starts
    Then its handler is run.sh and the adapter's wrapper runs in response_stream mode."""
    chat = properties(logical_id(STREAMING_FUNCTION))
    env = chat["Environment"]["Variables"]

    assert chat["Handler"] == "run.sh"
    assert env["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert env["AWS_LWA_INVOKE_MODE"] == "response_stream"
    assert (code_uri(logical_id(STREAMING_FUNCTION)) / "run.sh").is_file()


def test_chat_uses_the_web_adapter_layer_for_its_architecture() -> None:
    """Given the functions run on arm64
    When the chat function adds the Lambda Web Adapter layer
    Then it is the Arm64 build of that layer (the x86 one cannot run /opt/bootstrap on Graviton)."""
    layers = [str(layer) for layer in properties(logical_id(STREAMING_FUNCTION))["Layers"]]

    assert _globals_function()["Architectures"] == ["arm64"]
    assert any("LambdaAdapterLayerArm64" in layer for layer in layers), layers


def test_chat_readiness_check_hits_a_route_the_app_serves() -> None:
    """Given the adapter waits for the readiness path to answer before the first invocation
    When the chat function configures that path
    Then it is an internal path every app serves (otherwise cold starts hang until timeout)."""
    env = properties(logical_id(STREAMING_FUNCTION))["Environment"]["Variables"]
    path = env.get("AWS_LWA_READINESS_CHECK_PATH", "/")
    served = {path for method, path in app_routes(function_module(STREAMING_FUNCTION).app) if method == "GET"}

    assert path in INTERNAL_PATHS
    assert path in served


def test_run_sh_is_executable_in_the_repository() -> None:
    """Given `sam build` copies file modes as they are in the checkout
    When run.sh is not executable
    Then Lambda cannot exec the chat handler; so it must be executable here."""
    run_sh = ROOT / "functions" / STREAMING_FUNCTION / "run.sh"

    assert os.access(run_sh, os.X_OK)


def test_reservations_outlive_the_longest_chat_request() -> None:
    """Given the sweeper refunds reservations past their expiry
    When a chat request runs for the function's whole Timeout
    Then its reservation must still be live, i.e. RESERVATION_TTL_SECONDS > Timeout."""
    chat = properties(logical_id(STREAMING_FUNCTION))
    timeout = int(chat.get("Timeout", _globals_function()["Timeout"]))
    ttl = int(chat["Environment"]["Variables"]["RESERVATION_TTL_SECONDS"])

    assert ttl > timeout, f"reservations expire after {ttl}s but a chat request may run {timeout}s"


@pytest.mark.parametrize("name", BUFFERED_FUNCTIONS)
def test_buffered_functions_answer_proxy_events_through_their_app(name: str) -> None:
    """Given keys, images, audio and usage answer API Gateway proxy events directly
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


def test_sweeper_runs_on_a_schedule_one_at_a_time() -> None:
    """Given expired reservations must be refunded even when no request comes in, and the ledger
    audited
    When the template wires the sweeper
    Then EventBridge invokes `app.handler` on two schedules, one that sweeps (no input) and one that
    audits ({"task": "audit"}), and only one invocation runs at a time."""
    sweeper = properties("SweeperFunction")
    events = list((sweeper.get("Events") or {}).values())

    assert sweeper["Handler"] == "app.handler"
    assert [event["Type"] for event in events] == ["Schedule", "Schedule"]
    assert all(str(event["Properties"]["Schedule"]).startswith(("rate(", "cron(")) for event in events)
    inputs = [json.loads(event["Properties"].get("Input", "{}")) for event in events]
    assert inputs == [{}, {"task": function_module("sweeper").AUDIT_TASK}]
    assert sweeper.get("ReservedConcurrentExecutions") == 1
    assert callable(function_module("sweeper").handler)
