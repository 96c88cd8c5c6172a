"""Every domain error answers with the HTTP status and code of docs/API.md's Errors table."""

from __future__ import annotations

import json

import pytest

from gateway import errors
from gateway.errors import GatewayError

# docs/API.md, "Errors": HTTP status and code of each error the gateway raises.
ERROR_TABLE = [
    (errors.InvalidRequest, 400, "invalid_request"),
    (errors.ModelRequired, 400, "model_required"),
    (errors.MessagesRequired, 400, "messages_required"),
    (errors.InvalidJson, 400, "invalid_json"),
    (errors.InvalidApiKey, 401, "invalid_api_key"),
    (errors.InsufficientCredits, 402, "insufficient_credits"),
    (errors.ApiDisabled, 403, "api_disabled"),
    (errors.ModelNotAllowed, 403, "model_not_allowed"),
    (errors.Forbidden, 403, "forbidden"),
    (errors.ModelNotFound, 404, "model_not_found"),
    (errors.NotFound, 404, "not_found"),
    (errors.RequestTooLarge, 413, "request_too_large"),
    (errors.RateLimited, 429, "rate_limit_exceeded"),
    (errors.ProviderError, 502, "provider_error"),
    (errors.ProviderNotConfigured, 503, "provider_not_configured"),
    (errors.ProviderTimeout, 504, "provider_timeout"),
]


@pytest.mark.parametrize(("error_class", "status", "code"), ERROR_TABLE, ids=[row[2] for row in ERROR_TABLE])
def test_each_error_has_the_status_and_code_of_the_api_contract(
    error_class: type[GatewayError], status: int, code: str
) -> None:
    # Given an error raised by the gateway
    error = error_class("Something a client can act on.")
    # Then it answers with the documented HTTP status and code
    assert error.status == status
    assert error.code == code
    assert error.openai_body()["error"]["code"] == code


@pytest.mark.parametrize(("error_class", "status", "code"), ERROR_TABLE, ids=[row[2] for row in ERROR_TABLE])
def test_each_error_body_has_openais_envelope(error_class: type[GatewayError], status: int, code: str) -> None:
    # Given an error with a parameter, When rendered for an OpenAI-style endpoint
    body = error_class("Bad `temperature`.", param="temperature").openai_body()
    # Then the body is {"error": {message, type, code, param}} and serialises to JSON
    assert body == {
        "error": {"message": "Bad `temperature`.", "type": body["error"]["type"], "code": code, "param": "temperature"}
    }
    assert isinstance(body["error"]["type"], str)
    assert body["error"]["type"]
    assert json.loads(json.dumps(body)) == body


def test_the_error_param_is_null_when_not_about_one_field() -> None:
    assert errors.InvalidApiKey("Invalid API key.").openai_body()["error"]["param"] is None


@pytest.mark.parametrize(
    ("error_class", "error_type"),
    [
        (errors.InvalidRequest, "invalid_request_error"),
        (errors.InvalidJson, "invalid_request_error"),
        (errors.InvalidApiKey, "authentication_error"),
        (errors.Forbidden, "permission_error"),
        (errors.ModelNotFound, "not_found_error"),
        (errors.RateLimited, "rate_limit_error"),
    ],
)
def test_error_types_follow_openais_names(error_class: type[GatewayError], error_type: str) -> None:
    assert error_class("x").openai_body()["error"]["type"] == error_type


def test_errors_are_exceptions_whose_text_is_the_message() -> None:
    error = errors.InsufficientCredits("Balance too low for this request.")
    assert isinstance(error, Exception)
    assert str(error) == "Balance too low for this request."


def test_specific_errors_are_caught_as_their_family() -> None:
    # Handlers that catch the family (e.g. any 4xx on the request) also see the specific errors
    assert issubclass(errors.ModelRequired, errors.InvalidRequest)
    assert issubclass(errors.ModelNotAllowed, errors.ApiDisabled)
    assert issubclass(errors.ModelNotFound, errors.NotFound)
    assert issubclass(errors.ProviderNotConfigured, errors.ServiceUnavailable)


def test_a_rate_limit_error_carries_its_retry_after_header() -> None:
    error = errors.RateLimited("Too many requests.", headers={"Retry-After": "12"})
    assert error.headers == {"Retry-After": "12"}
    assert errors.RateLimited("Too many requests.").headers == {}


def test_a_code_given_to_one_error_does_not_change_other_errors_of_its_class() -> None:
    # Given one error raised with a more specific code
    special = errors.ProviderError("Stream ended early.", code="client_disconnected")
    # Then that error carries it, and the next error of the class still has the documented code
    assert special.openai_body()["error"]["code"] == "client_disconnected"
    assert errors.ProviderError("Upstream failed.").code == "provider_error"
    assert errors.ProviderError.code == "provider_error"


@pytest.mark.parametrize("status", [400, 404, 409, 413, 422])
def test_an_upstream_rejection_passes_the_upstream_status_on(status: int) -> None:
    # Given an upstream that refused the request itself with a 4xx
    error = errors.UpstreamRejected(
        status, "Invalid 'messages[1].content': string too long.", code="string_above_max_length", param="messages"
    )
    # Then the client gets the same status, message, code and param
    assert error.status == status
    assert error.openai_body() == {
        "error": {
            "message": "Invalid 'messages[1].content': string too long.",
            "type": "invalid_request_error",
            "code": "string_above_max_length",
            "param": "messages",
        }
    }


def test_an_upstream_rejection_without_a_code_is_an_invalid_request() -> None:
    error = errors.UpstreamRejected(400, "Bad request.")
    assert error.code == "invalid_request"
    assert error.param is None


def test_one_upstream_rejections_status_does_not_leak_into_another() -> None:
    first, second = errors.UpstreamRejected(404, "a"), errors.UpstreamRejected(422, "b")
    assert (first.status, second.status) == (404, 422)


def test_an_unexpected_gateway_error_is_a_500_internal_error() -> None:
    error = GatewayError("The gateway failed unexpectedly.")
    assert (error.status, error.code) == (500, "internal_error")
