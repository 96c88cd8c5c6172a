"""A small client of the keys API for tests: management key in, JSON out."""

from __future__ import annotations

from typing import Any

import httpx


class KeysApi:
    def __init__(self, base_url: str, management_key: str) -> None:
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {management_key}"}, timeout=20)

    def create(self, *, expect: int = 201, headers: dict[str, str] | None = None, **body: Any) -> dict[str, Any]:
        response = self.http.post("/api/v1/keys", json=body, headers=headers)
        assert response.status_code == expect, response.text
        return response.json()

    def list(self) -> list[dict[str, Any]]:
        response = self.http.get("/api/v1/keys")
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def get(self, key_hash: str) -> httpx.Response:
        return self.http.get(f"/api/v1/keys/{key_hash}")

    def patch(self, key_hash: str, **changes: Any) -> dict[str, Any]:
        response = self.http.patch(f"/api/v1/keys/{key_hash}", json=changes)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def delete(self, key_hash: str) -> httpx.Response:
        return self.http.delete(f"/api/v1/keys/{key_hash}")


def chat(base_url: str, key: str, model: str = "test/echo", **extra: Any) -> httpx.Response:
    return httpx.post(
        f"{base_url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hello"}], **extra},
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    )
