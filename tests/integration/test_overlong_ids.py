"""An id in a path is the client's input: one longer than any the gateway issues is a 400, never a
DynamoDB key it cannot hold (over 2,048 bytes: its ValidationException read as a store outage)."""

from __future__ import annotations

import httpx
import pytest

LONG_ID = "x" * 3000


@pytest.mark.parametrize(
    "path",
    [f"/api/v1/request-traces/{LONG_ID}", f"/v1/images/tasks/{LONG_ID}", f"/api/v1/images/tasks/{LONG_ID}"],
    ids=["trace", "image-task", "api-v1-image-task"],
)
def test_an_overlong_trace_or_task_id_is_a_400_not_a_store_outage(gateway_url, make_tenant, path):
    tenant = make_tenant("1")
    response = httpx.get(f"{gateway_url}{path}", headers={"Authorization": f"Bearer {tenant.key}"}, timeout=20)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] in ("trace_id", "task_id")
    assert "retry-after" not in response.headers
