"""What API Gateway exposes (Api events in template.yaml) and what each function's FastAPI app serves
are the same set of routes: a route missing from the template is unreachable once deployed, and an
event without a route answers 404 from inside the function."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from devtools.devserver import function_module
from devtools.template import TEMPLATE, api_routes, normalise_path
from gateway.http import INTERNAL_PATHS
from gateway.routes import build_all
from tests.infrastructure.tooling import API_FUNCTIONS, STREAMING_FUNCTIONS, app_routes, functions, logical_id

AUTOMATIC_METHODS = frozenset({"HEAD", "OPTIONS"})


def served_routes(name: str) -> set[tuple[str, str]]:
    """(METHOD, normalised path) of every route functions/<name>/app.py serves, internal ones aside."""
    return {
        (method, normalise_path(path))
        for method, path in app_routes(function_module(name).app)
        if path not in INTERNAL_PATHS and method not in AUTOMATIC_METHODS
    }


def declared_routes(function: str) -> set[tuple[str, str]]:
    """(METHOD, normalised path) of every Api event of one function in template.yaml."""
    return {(route.method, normalise_path(route.path)) for route in api_routes() if route.function == function}


@pytest.mark.parametrize("name", API_FUNCTIONS)
def test_every_served_route_is_declared_in_the_template_and_vice_versa(name: str) -> None:
    """Given functions/<name>/app.py and the <Name>Function resource of template.yaml
    When their routes are compared (path parameters normalised: {model+} == {model_id:path})
    Then each route the app serves has an Api event on that function and each Api event has a route."""
    served = served_routes(name)
    declared = declared_routes(logical_id(name))

    assert served - declared == set(), f"{name}: served by the app but not routed by API Gateway"
    assert declared - served == set(), f"{name}: routed by API Gateway to {logical_id(name)} but not served"


@pytest.mark.parametrize("name", API_FUNCTIONS)
def test_every_route_builds(name: str) -> None:
    """Given functions/<name>/app.py, whose routes are built when a request first reaches them
    When every route is built (as the OpenAPI document has them built)
    Then each is FastAPI's route: none fails on its signature only once deployed."""
    from fastapi.routing import APIRoute

    app = function_module(name).app
    build_all(app)

    assert all(isinstance(route, APIRoute) for route in app.router.routes)


def test_chat_and_keys_routes_are_found_at_all() -> None:
    """Given the two functions that have routes today
    When their routes are collected
    Then the parity check above compares real routes (a broken collector would compare empty sets)."""
    assert ("POST", "/v1/chat/completions") in served_routes("chat")
    assert ("GET", "/v1/models/{*}") in declared_routes("ChatFunction")
    assert ("GET", "/api/user/self") in served_routes("keys")
    assert ("GET", "/console") in served_routes("console")
    assert ("POST", "/console/api/admin/accounts/{}/top-up") in declared_routes("ConsoleFunction")


MANAGED_CHAT = "ManagedChatFunction"  # ChatCompute=managed-instances: chat's code and routes on its own API


def test_only_api_functions_have_api_events() -> None:
    """Given the dev server mounts exactly the API functions (chat, keys, images, audio, usage, console)
    When template.yaml routes API Gateway events
    Then they go to those functions only (or chat's code on managed instances), so `make dev` serves
    every deployed route."""
    with_events = {route.function for route in api_routes()}

    assert with_events <= {logical_id(name) for name in API_FUNCTIONS} | {MANAGED_CHAT}


def test_no_route_is_routed_twice() -> None:
    """Given API Gateway maps one method and path to one integration
    When two Api events of one API declare the same method and path
    Then deployment fails; so every (method, path) appears once in each API."""
    seen = [(route.api, route.method, route.path) for route in api_routes()]

    assert len(seen) == len(set(seen)), f"duplicate Api events: {sorted(seen)}"


def test_chat_on_managed_instances_is_the_chat_function_on_its_own_api() -> None:
    """Given ChatCompute=managed-instances adds the chat function on Lambda Managed Instances
    When its resource is compared with ChatFunction's
    Then it runs the same code with the same environment (but for settling before answering: its
    environments serve many requests at once), and serves exactly the same routes, streamed, on
    ManagedChatApi."""
    chat, managed = functions()["ChatFunction"]["Properties"], functions()[MANAGED_CHAT]["Properties"]
    assert (managed["CodeUri"], managed["Handler"], managed["Timeout"]) == (
        chat["CodeUri"],
        chat["Handler"],
        chat["Timeout"],
    )
    managed_variables = dict(managed["Environment"]["Variables"])
    assert managed_variables.pop("SETTLE_AFTER_ANSWER") == "false"
    assert "SETTLE_AFTER_ANSWER" not in chat["Environment"]["Variables"]
    assert managed_variables == chat["Environment"]["Variables"]
    assert (managed["Runtime"], functions()[MANAGED_CHAT]["Condition"]) == ("python3.13", "OnManagedInstances")
    managed_routes = [route for route in api_routes() if route.function == MANAGED_CHAT]
    assert {route.api for route in managed_routes} == {"ManagedChatApi"}
    assert all(route.streaming for route in managed_routes)
    assert {(r.method, r.path) for r in managed_routes} == {
        (r.method, r.path) for r in api_routes() if r.function == "ChatFunction"
    }


STREAMING = {logical_id(name) for name in STREAMING_FUNCTIONS} | {MANAGED_CHAT}


def test_every_route_of_a_streaming_function_streams() -> None:
    """Given chat answers with server-sent events, and images and audio with bodies that may pass the
    29 s or 6 MB a buffered integration allows
    When API Gateway proxies a route of chat, images or audio
    Then its Api event uses ResponseTransferMode RESPONSE_STREAM."""
    for name in STREAMING:
        events = [
            event for event in (functions()[name]["Properties"]["Events"] or {}).values() if event["Type"] == "Api"
        ]
        assert events, f"{name} has no Api events"
        for event in events:
            assert event["Properties"].get("ResponseTransferMode") == "RESPONSE_STREAM", (name, event["Properties"])


def test_buffered_functions_do_not_ask_for_streaming() -> None:
    """Given keys and usage run under Mangum, which answers with one buffered response
    When their Api events are read
    Then none asks API Gateway for a streaming (InvokeWithResponseStream) integration."""
    for route in api_routes():
        if route.function not in STREAMING:
            assert not route.streaming, f"{route.function} {route.method} {route.path} streams"


def _translated() -> dict[str, Any]:
    """template.yaml as CloudFormation, through the same SAM translator `sam validate` uses."""
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.yaml_helper import yaml_parse

    document = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
    for body in document["Resources"].values():
        props = body.get("Properties") or {}
        for uri in ("CodeUri", "ContentUri"):
            if uri in props:
                props[uri] = "s3://bucket/artifact.zip"  # what `sam package` puts there
    translator = Translator(None, Parser(), boto_session=boto3.session.Session(region_name="us-east-1"))
    return translator.translate(document, parameter_values={}, get_managed_policy_map=dict)


def _when_true(node: Any) -> Any:
    """A conditional function's paths, operations and URIs are wrapped in Fn::If: each as it is when
    the condition holds (its first branch)."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            return _when_true(node["Fn::If"][1])
        return {key: _when_true(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_when_true(item) for item in node]
    return node


def test_deployed_streaming_routes_invoke_with_response_streaming() -> None:
    """Given the SAM translation of the template (what CloudFormation receives)
    When the REST API's integrations are read
    Then chat, images and audio routes use STREAM and Lambda's response-streaming-invocations URI;
    the rest are buffered."""
    resources = _translated()["Resources"]
    apis = {name: body for name, body in resources.items() if body["Type"] == "AWS::ApiGateway::RestApi"}
    assert set(apis) == {"GatewayApi", "ManagedChatApi"}
    integrations = {
        (name, method.upper(), path): operation["x-amazon-apigateway-integration"]
        for name, api in apis.items()
        for path, operations in _when_true(api["Properties"]["Body"]["paths"]).items()
        for method, operation in operations.items()
    }

    assert set(integrations) == {(route.api, route.method, route.path) for route in api_routes()}
    for (_, method, path), integration in integrations.items():
        uri = integration["uri"]["Fn::Sub"]
        streaming = [name for name in STREAMING if f"${{{name}.Arn}}" in uri]
        if streaming:
            assert integration.get("responseTransferMode") == "STREAM", (method, path)
            assert uri.endswith(f"/2021-11-15/functions/${{{streaming[0]}.Arn}}/response-streaming-invocations")
        else:
            assert integration.get("responseTransferMode", "BUFFERED") == "BUFFERED", (method, path)
            assert uri.endswith("/invocations"), (method, path)
            assert "response-streaming" not in uri, (method, path)


@pytest.mark.parametrize("name", STREAMING_FUNCTIONS)
def test_streaming_functions_get_both_the_common_layer_and_the_web_adapter(name: str) -> None:
    """Given Globals adds the CommonLayer and each streaming function adds the Lambda Web Adapter layer
    When SAM merges them
    Then the deployed function has both (without the gateway package or the adapter it cannot start)."""
    function = _translated()["Resources"][logical_id(name)]["Properties"]
    layers = [str(layer) for layer in function["Layers"]]

    assert any("CommonLayer" in layer for layer in layers), layers
    assert any("LambdaAdapterLayerArm64" in layer for layer in layers), layers
    assert function["Architectures"] == ["arm64"]


def test_no_resource_has_two_variable_children_of_different_names() -> None:
    """API Gateway refuses a deploy where one resource has two variable path parts ("A sibling
    ({target+}) of this resource already has a variable path part"): /v1beta/models/{target+} for POST
    and /v1beta/models/{model+} for GET would fail the stack's first deploy."""
    children: dict[tuple[str, str], set[str]] = {}
    for route in api_routes():
        parts = route.path.strip("/").split("/")
        for depth, part in enumerate(parts):
            if part.startswith("{"):
                children.setdefault((route.api, "/".join(parts[:depth])), set()).add(part)
    clashing = {parent: names for parent, names in children.items() if len(names) > 1}
    assert clashing == {}


def test_api_gateways_own_answers_are_in_the_gateways_error_envelope() -> None:
    """Given the SAM translation of the template
    When API Gateway answers by itself (no route for the path or method, throttled, too large, timed
    out, any other 4xx/5xx of its own)
    Then its body is the gateway's error envelope, `type` equal to `code` as every seed's reads, and a
    path no route serves is a 404, not API Gateway's 403 "Missing Authentication Token"."""
    import json

    resources = _translated()["Resources"]
    for name in ("GatewayApi", "ManagedChatApi"):
        answers = resources[name]["Properties"]["Body"]["x-amazon-apigateway-gateway-responses"]
        expected = {"MISSING_AUTHENTICATION_TOKEN": "404", "THROTTLED": "429", "REQUEST_TOO_LARGE": "413",
                    "INTEGRATION_TIMEOUT": "504", "DEFAULT_4XX": None, "DEFAULT_5XX": None}  # fmt: skip
        assert {kind: answer.get("statusCode") for kind, answer in answers.items()} == expected, name
        for kind, answer in answers.items():
            body = answer["responseTemplates"]["application/json"]
            error = json.loads(body.replace("$context.error.messageString", '"API Gateway\'s own words"'))["error"]
            assert error["type"] == error["code"], (name, kind)
            assert isinstance(error["message"], str), (name, kind)
            if answer.get("statusCode"):
                assert str(error["status"]) == answer["statusCode"], (name, kind)
