"""What the console function writes to its logs (CloudWatch in AWS), driven as Lambda drives it: what
happened (with trace ids and account ids), never an ID token, a refresh token, a password, a key, a
top-up code's text or a channel's key."""

from __future__ import annotations

import io
import json
import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from devtools.devserver import function_module
from gateway.observability import logger
from gateway.services import channel_admin
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


def test_the_console_logs_no_token_password_code_or_key(gateway_env, cognito: CognitoPool, capfd, monkeypatch):  # type: ignore[no-untyped-def]
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
    # refused, and the operator tops the customer up with a note; the operator mints codes, the
    # customer redeems one and mistypes another; the operator adds a channel with its key, gives it
    # a key that is refused, and rotates it
    channel_key, rotated = f"sk-channel-{secrets.token_hex(12)}", f"sk-rotated-{secrets.token_hex(12)}"
    channel_id = f"logged-{secrets.token_hex(3)}"
    with log_lines() as logged:
        me = call("GET", "/console/api/me", user.id_token)
        created = call("POST", "/console/api/keys", user.id_token, {"name": "logged?"})
        listed = call("GET", "/console/api/keys", user.id_token)
        forged = call("GET", "/console/api/me", user.id_token[:-6] + "AAAAAA")
        account_id = me["body"]["account"]["account_id"]
        top_up = call(
            "POST", f"/console/api/admin/accounts/{account_id}/top-up", operator.id_token, {"credits": 1, "note": "n"}
        )
        minted = call("POST", "/console/api/admin/codes", operator.id_token, {"credits": "1", "count": 2})
        code, unused = minted["body"]["codes"]
        redeemed = call("POST", "/console/api/topup", user.id_token, {"key": code})
        typo = unused[:-1] + ("1" if unused.endswith("0") else "0")
        mistyped = call("POST", "/console/api/topup", user.id_token, {"key": typo})
        channel = {"id": channel_id, "provider": "fake", "api_key": channel_key, "enabled": False}
        added = call("POST", "/console/api/admin/channels", operator.id_token, channel)
        path = f"/console/api/admin/channels/{channel_id}"
        spaced = call("PATCH", path, operator.id_token, {"api_key": f"{rotated} x"})
        rotation = call("PATCH", path, operator.id_token, {"api_key": rotated})
    output = "".join(capfd.readouterr()) + logged.getvalue()  # metrics are printed; log lines go to the logger

    # Then each answered as it should, and the log holds what happened but none of the secrets
    answered = [me, created, listed, forged, top_up, minted, redeemed, mistyped, added, spaced, rotation]
    assert [answer["status"] for answer in answered] == [200, 201, 200, 401, 200, 201, 200, 400, 201, 400, 200]
    key = created["body"]["key"]
    assert "console account created" in output
    assert account_id in output
    assert '"code":"invalid_token"' in output.replace(" ", "")  # the refusal is counted (EMF), by code only
    secrets_given = (user.id_token, user.refresh_token, user.access_token, operator.id_token, key, PASSWORD)
    for secret in (*secrets_given, code, unused, typo, channel_key, rotated):
        assert secret not in output
        assert secret.lower() not in output.lower()
    assert channel_id in json.dumps(added["body"])
    channel_admin.delete_channel(channel_id)
    for token in (user.id_token, operator.id_token):
        assert token.split(".")[2] not in output  # not even a token's signature
        assert token.split(".")[1] not in output  # nor its claims
