"""What the console function writes to its logs (CloudWatch in AWS), driven as Lambda drives it: what
happened (with trace ids and account ids), never an ID token, a refresh token, a password or a key."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from devtools.devserver import function_module
from gateway.observability import logger
from tests.support.console import PASSWORD, CognitoPool
from tests.support.lambda_events import LambdaContext, rest_event


@contextmanager
def log_lines() -> Iterator[io.StringIO]:
    """What the gateway's logger writes meanwhile (its handler may hold a stream of an earlier test)."""
    handlers = [h for h in logging.getLogger(logger().name).handlers if isinstance(h, logging.StreamHandler)]
    assert handlers, "the gateway's logger writes nowhere"
    lines = io.StringIO()
    previous = [handler.setStream(lines) for handler in handlers]
    try:
        yield lines
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            handler.setStream(stream)


def test_the_console_logs_no_token_password_or_key(gateway_env, cognito: CognitoPool, capfd, monkeypatch):  # type: ignore[no-untyped-def]
    # Given the console's Lambda handler, an operator and a customer who just signed up
    monkeypatch.setenv("POWERTOOLS_LOG_LEVEL", "DEBUG")
    handler = function_module("console").handler
    operator, user = cognito.sign_up(operator=True), cognito.sign_up()
    capfd.readouterr()

    def call(method: str, path: str, token: str | None, body: object = None) -> dict:  # type: ignore[type-arg]
        headers = {"Host": "x", "Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        answer = handler(
            rest_event(method, path, headers, json.dumps(body) if body is not None else None), LambdaContext()
        )
        return {"status": answer["statusCode"], "body": json.loads(answer["body"])}

    # When the customer signs in for the first time, creates a key and lists them, a forged token is
    # refused, and the operator tops the customer up with a note
    with log_lines() as logged:
        me = call("GET", "/console/api/me", user.id_token)
        created = call("POST", "/console/api/keys", user.id_token, {"name": "logged?"})
        listed = call("GET", "/console/api/keys", user.id_token)
        forged = call("GET", "/console/api/me", user.id_token[:-6] + "AAAAAA")
        account_id = me["body"]["account"]["account_id"]
        top_up = call(
            "POST", f"/console/api/admin/accounts/{account_id}/top-up", operator.id_token, {"credits": 1, "note": "n"}
        )
    output = "".join(capfd.readouterr()) + logged.getvalue()  # metrics are printed; log lines go to the logger

    # Then each answered as it should, and the log holds what happened but none of the secrets
    assert [me["status"], created["status"], listed["status"], forged["status"], top_up["status"]] == [
        200,
        201,
        200,
        401,
        200,
    ]
    key = created["body"]["key"]
    assert "console account created" in output
    assert account_id in output
    assert '"code":"invalid_token"' in output.replace(" ", "")  # the refusal is counted (EMF), by code only
    for secret in (user.id_token, user.refresh_token, user.access_token, operator.id_token, key, PASSWORD):
        assert secret not in output
    for token in (user.id_token, operator.id_token):
        assert token.split(".")[2] not in output  # not even a token's signature
        assert token.split(".")[1] not in output  # nor its claims
