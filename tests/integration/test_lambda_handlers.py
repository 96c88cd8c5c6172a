"""The buffered functions' Lambda handlers, driven with API Gateway REST proxy events."""

from __future__ import annotations

import json

from devtools.devserver import function_module
from tests.support.lambda_events import LambdaContext, rest_event


def test_keys_handler_answers_a_rest_proxy_event(gateway_env, make_tenant):
    tenant = make_tenant("2")
    handler = function_module("keys").handler
    answer = handler(
        rest_event("GET", "/api/user/self/quota", {"Authorization": f"Bearer {tenant.key}", "Host": "x"}),
        LambdaContext(),
    )
    assert answer["statusCode"] == 200
    assert json.loads(answer["body"]) == {"quota": 2, "used": 0, "total": 2}
    assert answer["headers"]["x-trace-id"].startswith("gen-")


def test_keys_handler_answers_errors_in_the_envelope(gateway_env):
    handler = function_module("keys").handler
    answer = handler(rest_event("GET", "/api/user/self", {"Host": "x"}), LambdaContext())
    assert answer["statusCode"] == 401
    assert json.loads(answer["body"])["error"]["code"] == "invalid_api_key"
