"""The buffered functions' Lambda handlers, driven with API Gateway REST proxy events."""

from __future__ import annotations

import gc
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
    # and what the process held before its first invocation is left out of garbage collections
    assert gc.get_freeze_count() > 0


def test_keys_handler_answers_errors_in_the_envelope(gateway_env):
    handler = function_module("keys").handler
    answer = handler(rest_event("GET", "/api/user/self", {"Host": "x"}), LambdaContext())
    assert answer["statusCode"] == 401
    assert json.loads(answer["body"])["error"]["code"] == "invalid_api_key"


def test_an_unreachable_table_is_503_with_retry_after_in_the_endpoints_envelope(gateway_env, make_tenant, monkeypatch):
    # Given a key the function has not cached, and DynamoDB unreachable (nothing listens on the port)
    from devtools.dynamodb_local import free_port
    from gateway.storage import dynamo
    from gateway.storage.dynamo_client import DynamoClient
    from gateway.storage.sigv4 import Credentials

    tenant = make_tenant("2")
    creds = Credentials("test", "test")
    dead = DynamoClient(f"http://127.0.0.1:{free_port()}", "us-east-1", lambda: creds, connect_timeout=0.2)
    monkeypatch.setattr(dynamo, "client", lambda: dead)
    headers = {"Authorization": f"Bearer {tenant.key}", "Host": "x"}

    # When the keys function is asked for the key's account
    answer = function_module("keys").handler(rest_event("GET", "/api/user/self", headers), LambdaContext())

    # Then the caller is told to retry, in the error envelope, not a 500
    assert answer["statusCode"] == 503
    assert answer["headers"]["retry-after"] == "1"
    assert json.loads(answer["body"])["error"]["code"] == "service_unavailable"
