"""Helpers of the control-plane tests: an operator's client of the admin API, extra fake upstreams
(each its own server, accepting its own key, so a test sees which channel a request reached), and a
poll for changes that every warm process picks up within seconds."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import httpx
import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.servers import ServerThread

T = TypeVar("T")
PROPAGATION_SECONDS = 5.0  # far above CATALOG_CHECK_SECONDS (0.3 in the tests' environment)


class AdminApi:
    """The admin API with an operator key: JSON in, the answer's `data` out (status checked)."""

    def __init__(self, base_url: str, operator_key: str) -> None:
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {operator_key}"}, timeout=30)

    def call(self, method: str, path: str, *, expect: int = 200, whole: bool = False, **kwargs: Any) -> Any:
        """The answer's `data` (its whole body when `whole`, or when it is an error)."""
        response = self.http.request(method, f"/api/admin{path}", **kwargs)
        assert response.status_code == expect, response.text
        body = response.json()
        return body if whole or expect >= 300 or "data" not in body else body["data"]

    def get(self, path: str, **kwargs: Any) -> Any:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, body: Any, **kwargs: Any) -> Any:
        return self.call("POST", path, json=body, **{"expect": 201, **kwargs})

    def patch(self, path: str, body: Any, **kwargs: Any) -> Any:
        return self.call("PATCH", path, json=body, **kwargs)

    def put(self, path: str, body: Any, **kwargs: Any) -> Any:
        return self.call("PUT", path, json=body, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> Any:
        return self.call("DELETE", path, **kwargs)


class Upstream:
    """A fake OpenAI-compatible server of its own, accepting only `key`."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.key = f"sk-{name}-{secrets.token_hex(8)}"
        self.fake = FakeOpenAI(self.key)
        self.server = ServerThread(self.fake.app).start()
        self.url = f"{self.server.url}/v1"

    def chats(self) -> int:
        with self.fake.lock:
            return len(self.fake.requests)

    def keys_seen(self) -> set[str]:
        with self.fake.lock:
            return {headers.get("authorization", "") for headers in self.fake.headers}

    def stop(self) -> None:
        self.fake.release()
        self.server.stop()


def upstreams(*names: str) -> Iterator[dict[str, Upstream]]:
    """For a fixture: one fake server per name, stopped afterwards."""
    started = {name: Upstream(name) for name in names}
    yield started
    for upstream in started.values():
        upstream.stop()


@pytest.fixture(scope="module")
def operator(gateway_url: str) -> AdminApi:
    from gateway.services.operator_keys import issue_operator_key

    return AdminApi(gateway_url, issue_operator_key("tests").key)


def unique(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"


def eventually(check: Callable[[], T | None], *, seconds: float = PROPAGATION_SECONDS, every: float = 0.1) -> T:
    """`check`'s first truthy answer, asked again until `seconds` pass (then the test fails)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds}s: {check.__doc__ or check}")
        time.sleep(every)


def chat(base_url: str, key: str, model: str, text: str = "hello there", **extra: Any) -> httpx.Response:
    return httpx.post(
        f"{base_url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": text}], **extra},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
