"""The image worker routes a task as every request is routed: the key's provider allow-list as it
stands when the task is worked, and the attempts traced like any other request's."""

from __future__ import annotations

import httpx

from gateway.clock import now_iso
from gateway.config import get_settings
from gateway.storage.api_keys import ApiKeyRepository
from tests.conftest import balance_of, ledger_entry
from tests.integration.test_images import deliver, run_worker

GRANT = 10_000_000


def start_task(gateway_url: str, key: str, model: str) -> str:
    created = httpx.post(
        f"{gateway_url}/v1/images/generations",
        json={"model": model, "prompt": "an otter", "n": 1, "async": True},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert created.status_code == 202
    return str(created.json()["task_id"])


def test_a_task_whose_key_no_longer_allows_its_provider_is_refunded_unworked(
    gateway_url, upstream, fake_servers, aws_local, make_tenant
):
    # Given a task made while the key allowed every provider
    tenant = make_tenant("10")
    task_id = start_task(gateway_url, tenant.key, "test/image-async")
    records = deliver(aws_local)
    # When the key is restricted to another provider before the worker runs
    ApiKeyRepository(get_settings().table_name).update(
        tenant.key_hash, tenant.account_id, {"allowed_providers": ("fake",)}, now_iso()
    )
    assert run_worker(records) == {"batchItemFailures": []}
    # Then the provider it no longer allows is never asked, and the task is failed and refunded
    assert fake_servers["images"].requests == []
    assert balance_of(tenant.account_id) == GRANT
    entry = ledger_entry(task_id)
    assert entry is not None
    assert (entry["status"], entry["http_status"], entry["error_code"], entry["credits"]) == (
        "error",
        403,
        "model_not_allowed",
        0,
    )


def test_a_failed_tasks_attempts_are_traced_as_any_requests(gateway_url, upstream, aws_local, make_tenant):
    tenant = make_tenant("10")
    task_id = start_task(gateway_url, tenant.key, "test/image-broken")
    assert run_worker(deliver(aws_local)) == {"batchItemFailures": []}
    entry = ledger_entry(task_id)
    assert entry is not None
    (attempt,) = entry["attempts"]
    assert (attempt["provider"], attempt["upstream_model"], attempt["http_status"], attempt["error_code"]) == (
        "fake-images",
        "image-fail",
        502,
        "provider_error",
    )
    assert (entry["endpoint"], entry["provider"], entry["credits"]) == ("images.generations", "fake-images", 0)
