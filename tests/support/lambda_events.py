"""Lambda invocation stand-ins: a context object and API Gateway REST (v1) proxy events."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LambdaContext:
    function_name: str = "KeysFunction"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:KeysFunction"
    memory_limit_in_mb: int = 1024
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name: str = "/aws/lambda/KeysFunction"
    log_stream_name: str = "2026/11/22/[$LATEST]abc"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def rest_event(method: str, path: str, headers: dict[str, str], body: str | None = None) -> dict:
    """An API Gateway REST API (v1) Lambda proxy integration event."""
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": {name: [value] for name, value in headers.items()},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": path,
            "httpMethod": method,
            "path": f"/dev{path}",
            "stage": "dev",
            "requestId": "req-1",
            "identity": {"sourceIp": "203.0.113.9", "userAgent": "test"},
            "accountId": "123456789012",
            "apiId": "abc123",
        },
        "body": body,
        "isBase64Encoded": False,
    }
