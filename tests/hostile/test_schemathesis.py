"""Hostile input: schemathesis generates requests from the gateway's own OpenAPI document (every
function's routes) and sends them over HTTP. No answer may be a 5xx, and every error must be in the
documented envelope."""

from __future__ import annotations

import json

import schemathesis
from hypothesis import HealthCheck, settings

from devtools.devserver import build_app

schema = schemathesis.openapi.from_dict(build_app().openapi())


@schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_a_5xx_or_leaves_the_envelope(case, gateway_url, hostile_key):  # type: ignore[no-untyped-def]
    response = case.call(base_url=gateway_url, headers={"Authorization": f"Bearer {hostile_key}"}, timeout=30)
    assert response.status_code < 500 or response.status_code in (502, 503, 504), response.text[:500]
    if response.status_code >= 400:
        body = json.loads(response.text)
        error = body.get("error")
        assert isinstance(error, dict) or body.get("type") == "error", response.text[:500]
        assert error.get("message") if isinstance(error, dict) else body["error"]


console_schema = schema.include(path_regex="^/console/api/")


@console_schema.parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_to_the_console_api_makes_a_5xx(case, gateway_url, hostile_console_token):  # type: ignore[no-untyped-def]
    """The same, through the console's API with a signed-in operator's session (every route reachable)."""
    response = case.call(base_url=gateway_url, headers={"Authorization": f"Bearer {hostile_console_token}"}, timeout=30)
    assert response.status_code < 500 or response.status_code in (502, 503, 504), response.text[:500]
    if response.status_code >= 400:
        error = json.loads(response.text).get("error")
        assert isinstance(error, dict), response.text[:500]
        assert error.get("message"), response.text[:500]
