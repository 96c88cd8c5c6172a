"""The lean client's SigV4 signature equals botocore's for the same request and instant."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotocoreCredentials

from gateway.storage.sigv4 import Credentials, signed_headers

INSTANT = datetime(2026, 11, 22, 4, 5, 6, tzinfo=UTC)


def botocore_headers(
    monkeypatch: pytest.MonkeyPatch, url: str, headers: dict[str, str], body: bytes, creds: Credentials, region: str
) -> dict[str, str]:
    import botocore.auth

    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: INSTANT.replace(tzinfo=None))
    request = AWSRequest(method="POST", url=url, data=body, headers=dict(headers))
    SigV4Auth(BotocoreCredentials(creds.access_key, creds.secret_key, creds.token), "dynamodb", region).add_auth(
        request
    )
    return {name.lower(): value for name, value in request.headers.items()}


@pytest.mark.parametrize(
    ("url", "region", "creds"),
    [
        ("https://dynamodb.us-east-1.amazonaws.com/", "us-east-1", Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG")),
        (
            "https://dynamodb.eu-west-1.amazonaws.com/",
            "eu-west-1",
            Credentials("ASIAEXAMPLE", "secret/with+chars", "IQoJb3JpZ2luX2VjE//session+token=="),
        ),
        ("http://127.0.0.1:8001/", "us-east-1", Credentials("local", "local")),
    ],
)
def test_the_signature_matches_botocores(
    monkeypatch: pytest.MonkeyPatch, url: str, region: str, creds: Credentials
) -> None:
    body = b'{"TableName":"gateway","Key":{"pk":{"S":"ACCOUNT#a  b"}},"ConsistentRead":true}'
    headers = {"content-type": "application/x-amz-json-1.0", "x-amz-target": "DynamoDB_20120810.GetItem"}
    host = url.split("/")[2]

    ours = signed_headers(
        host=host, headers=headers, body=body, credentials=creds, region=region, service="dynamodb", now=INSTANT
    )
    theirs = botocore_headers(monkeypatch, url, headers, body, creds, region)

    assert ours["authorization"] == theirs["authorization"]
    assert ours["x-amz-date"] == theirs["x-amz-date"] == "20261122T040506Z"
    assert ours.get("x-amz-security-token") == theirs.get("x-amz-security-token") == creds.token
    assert "host" not in ours  # the connection sends the Host header itself


def test_a_different_body_or_day_changes_the_signature() -> None:
    creds = Credentials("AKIDEXAMPLE", "secret")
    headers = {"content-type": "application/x-amz-json-1.0", "x-amz-target": "DynamoDB_20120810.PutItem"}

    def sign(body: bytes, now: datetime) -> str:
        answer = signed_headers(
            host="h", headers=headers, body=body, credentials=creds, region="us-east-1", service="dynamodb", now=now
        )
        return answer["authorization"]

    assert sign(b"{}", INSTANT) != sign(b"{ }", INSTANT)
    assert sign(b"{}", INSTANT) != sign(b"{}", INSTANT.replace(day=23))
