"""The image worker routes a task as every request is routed: its key as it stands when the task is
worked (revoked, disabled, expired or its allow-list narrowed since: refunded unworked), and the
attempts traced like any other request's."""

from __future__ import annotations

import httpx
import pytest

from gateway import clock
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


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [("revoked", 401, "invalid_api_key"), ("disabled", 403, "api_disabled"), ("expired", 403, "api_disabled")],
)
def test_a_task_whose_key_was_revoked_disabled_or_expired_is_refunded_unworked(
    gateway_url, upstream, fake_servers, aws_local, make_tenant, change, status, code
):
    tenant = make_tenant("10")
    task_id = start_task(gateway_url, tenant.key, "test/image-async")
    records = deliver(aws_local)
    # the key is revoked (say, it leaked), disabled or expires before the worker picks the task up
    repository = ApiKeyRepository(get_settings().table_name)
    if change == "revoked":
        assert repository.revoke(tenant.key_hash, tenant.account_id, clock.now_epoch(), now_iso()) is not None
    else:
        changes = {"disabled": True} if change == "disabled" else {"expires_at": clock.now_epoch() - 1}
        assert repository.update(tenant.key_hash, tenant.account_id, changes, now_iso()) is not None
    assert run_worker(records) == {"batchItemFailures": []}
    assert fake_servers["images"].requests == []
    assert balance_of(tenant.account_id) == GRANT
    entry = ledger_entry(task_id)
    assert entry is not None
    assert (entry["status"], entry["http_status"], entry["error_code"], entry["credits"]) == ("error", status, code, 0)


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
