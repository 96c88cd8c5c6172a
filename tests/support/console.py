"""Console users for tests: signed up, confirmed and signed in against the session's user pool (moto's
Cognito on loopback) with the same unsigned calls the page makes, and a client of the console's API."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

import httpx

PASSWORD = "correct horse 42"


@dataclass
class ConsoleUser:
    email: str
    id_token: str
    refresh_token: str
    access_token: str


class CognitoPool:
    def __init__(self, env: dict[str, str]) -> None:
        self.endpoint = env["AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER"]
        self.client_id = env["COGNITO_CLIENT_ID"]
        self.user_pool_id = env["COGNITO_USER_POOL_ID"]
        self.operator_group = env["CONSOLE_OPERATOR_GROUP"]

    def call(self, action: str, body: dict[str, Any]) -> httpx.Response:
        """An unsigned call of the user pool's API, as the browser makes it."""
        return httpx.post(
            f"{self.endpoint}/",
            headers={
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": f"AWSCognitoIdentityProviderService.{action}",
            },
            content=json.dumps({"ClientId": self.client_id, **body}),
            timeout=20,
        )

    def sign_up(self, email: str | None = None, password: str = PASSWORD, *, operator: bool = False) -> ConsoleUser:
        email = email or f"user-{secrets.token_hex(5)}@example.com"
        answer = self.call(
            "SignUp", {"Username": email, "Password": password, "UserAttributes": [{"Name": "email", "Value": email}]}
        )
        assert answer.status_code == 200, answer.text
        confirmed = self.call("ConfirmSignUp", {"Username": email, "ConfirmationCode": "123456"})
        assert confirmed.status_code == 200, confirmed.text
        if operator:
            self.admin().admin_add_user_to_group(
                UserPoolId=self.user_pool_id, Username=email, GroupName=self.operator_group
            )
        return self.sign_in(email, password)

    def sign_in(self, email: str, password: str = PASSWORD) -> ConsoleUser:
        answer = self.call(
            "InitiateAuth",
            {"AuthFlow": "USER_PASSWORD_AUTH", "AuthParameters": {"USERNAME": email, "PASSWORD": password}},
        )
        assert answer.status_code == 200, answer.text
        result = answer.json()["AuthenticationResult"]
        return ConsoleUser(email, result["IdToken"], result["RefreshToken"], result["AccessToken"])

    def admin(self) -> Any:
        import boto3

        return boto3.client(
            "cognito-idp",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )


class ConsoleApi:
    """The console's API (/console/api) as one signed-in user calls it."""

    def __init__(self, base_url: str, user: ConsoleUser | None) -> None:
        headers = {"Authorization": f"Bearer {user.id_token}"} if user else {}
        self.http = httpx.Client(base_url=f"{base_url}/console/api", headers=headers, timeout=30)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.http.get(path, params={name: value for name, value in params.items() if value is not None})

    def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return self.http.post(path, json=body, **kwargs)

    def patch(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self.http.patch(path, json=body, **kwargs)

    def put(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        return self.http.put(path, json=body, **kwargs)

    def delete(self, path: str) -> httpx.Response:
        return self.http.delete(path)

    def ok(self, response: httpx.Response, status: int = 200) -> dict[str, Any]:
        assert response.status_code == status, response.text
        return dict(response.json())


def answered_request(gateway_url: str, user: ConsoleUser, key_name: str) -> str:
    """One answered chat request of a new key of `user`'s, aggregated: its trace id."""
    from tests.conftest import aggregated

    api = ConsoleApi(gateway_url, user)
    key = api.ok(api.post("/keys", {"name": key_name}), 201)["key"]
    answered = httpx.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "test/echo", "messages": [{"role": "user", "content": "hello"}]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    )
    assert answered.status_code == 200, answered.text
    aggregated()
    return str(answered.headers["x-trace-id"])
