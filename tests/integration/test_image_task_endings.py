"""Every image task ends, exactly once: a task whose worker died or whose message went to the
dead-letter queue is failed and refunded by the sweeper (or as soon as it is read past its deadline),
a task that could not finish before its deadline is ended unworked, and a task whose settlement
failed after its images were made is charged, not refunded."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from gateway import clock
from gateway.billing.sweeper import settle_expired, sweep_expired
from gateway.config import get_settings
from gateway.storage.credits import CreditRepository
from gateway.storage.errors import StorageUnavailable
from gateway.storage.stores import stores
from tests.conftest import balance_of, ledger_entry
from tests.integration.test_images import deliver, run_worker

GRANT = 10_000_000
HOLD = 100_000  # two images of test/image-async


def start_task(gateway_url: str, key: str) -> dict:  # type: ignore[type-arg]
    created = httpx.post(
        f"{gateway_url}/v1/images/generations",
        json={"model": "test/image-async", "prompt": "an otter", "n": 2, "async": True},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert created.status_code == 202
    return created.json()  # type: ignore[no-any-return]


def task_of(gateway_url: str, key: str, task_id: str) -> dict:  # type: ignore[type-arg]
    return httpx.get(f"{gateway_url}/v1/images/tasks/{task_id}", headers={"Authorization": f"Bearer {key}"}).json()  # type: ignore[no-any-return]


def expiry_of(task_id: str) -> int:
    reservation = CreditRepository(get_settings().table_name).get_reservation(task_id)
    assert reservation is not None
    return reservation.expires_at


def test_a_task_whose_worker_never_ran_is_failed_and_refunded_once_by_the_sweeper(
    gateway_url, upstream, fake_servers, aws_local, make_tenant
):
    tenant = make_tenant("10")
    task = start_task(gateway_url, tenant.key)
    records = deliver(aws_local)  # the message is taken, and the worker dies (or it goes to the DLQ)
    assert balance_of(tenant.account_id) == GRANT - HOLD
    # When the sweeper passes after the task's deadline
    result = sweep_expired(now=expiry_of(task["task_id"]) + 1)
    assert result.settled >= 1
    # Then the task is failed and refunded, in the same transaction
    ended = task_of(gateway_url, tenant.key, task["task_id"])
    assert ended["status"] == "failed"
    assert "did not finish in time" in ended["error"]["message"]
    assert balance_of(tenant.account_id) == GRANT
    entry = ledger_entry(task["task_id"])
    assert entry is not None
    assert (entry["status"], entry["credits"]) == ("expired", 0)
    # And a late redelivery is skipped: no images are made for a refunded task, nothing moves
    assert run_worker(records) == {"batchItemFailures": []}
    assert fake_servers["images"].requests == []
    assert sweep_expired(now=expiry_of_or_zero(task["task_id"]) + 10**6).settled == 0
    assert balance_of(tenant.account_id) == GRANT


def expiry_of_or_zero(task_id: str) -> int:
    reservation = CreditRepository(get_settings().table_name).get_reservation(task_id)
    return reservation.expires_at if reservation else clock.now_epoch()


def test_a_task_read_past_its_deadline_is_ended_then_and_there(
    gateway_url, upstream, aws_local, make_tenant, monkeypatch
):
    tenant = make_tenant("10")
    task = start_task(gateway_url, tenant.key)
    deliver(aws_local)
    deadline = expiry_of(task["task_id"])
    real = clock.now
    monkeypatch.setattr(clock, "now", lambda: real() + (deadline - real()) + 1)
    # When it is read after its deadline, before any sweeper ran
    ended = task_of(gateway_url, tenant.key, task["task_id"])
    # Then it is no longer pending: failed, and refunded exactly once
    assert ended["status"] == "failed"
    assert balance_of(tenant.account_id) == GRANT
    assert task_of(gateway_url, tenant.key, task["task_id"])["status"] == "failed"
    assert balance_of(tenant.account_id) == GRANT


def test_a_task_delivered_too_late_to_finish_is_ended_unworked(
    gateway_url, upstream, fake_servers, aws_local, make_tenant, monkeypatch
):
    tenant = make_tenant("10")
    task = start_task(gateway_url, tenant.key)
    records = deliver(aws_local)
    deadline = expiry_of(task["task_id"])
    real = clock.now
    # the message was delivered with less than the worker's longest run left before the deadline
    monkeypatch.setattr(clock, "now", lambda: real() + (deadline - real()) - 60)
    assert run_worker(records) == {"batchItemFailures": []}
    monkeypatch.undo()
    # Then the provider was never asked (nobody would pay for its images), and the hold came back
    assert fake_servers["images"].requests == []
    assert task_of(gateway_url, tenant.key, task["task_id"])["status"] == "failed"
    assert balance_of(tenant.account_id) == GRANT


@pytest.mark.parametrize("record_fails", [False, True], ids=["kept on its reservation", "kept on the unsettled queue"])
def test_a_task_whose_settlement_failed_is_charged_by_the_sweeper_with_its_images(
    gateway_url, upstream, aws_local, make_tenant, monkeypatch, record_fails
):
    tenant = make_tenant("10")
    task = start_task(gateway_url, tenant.key)
    records = deliver(aws_local)

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise StorageUnavailable("ThrottlingException")

    # When the worker made the images but cannot write their settlement (nor, DynamoDB down, its
    # pending record: then the charge goes on the unsettled queue)
    monkeypatch.setattr(CreditRepository, "settle", failing)
    if record_fails:
        monkeypatch.setattr(CreditRepository, "record_pending", failing)
    assert run_worker(records) == {"batchItemFailures": []}
    monkeypatch.undo()
    assert task_of(gateway_url, tenant.key, task["task_id"])["status"] == "pending"
    # Then the sweeper charges them (not a refund) and the task succeeds with its images
    sweep_expired(now=expiry_of(task["task_id"]) + 1)
    done = task_of(gateway_url, tenant.key, task["task_id"])
    assert done["status"] == "succeeded"
    assert len(done["data"]) == 2
    assert balance_of(tenant.account_id) == GRANT - HOLD
    entry = ledger_entry(task["task_id"])
    assert entry is not None
    assert (entry["status"], entry["credits"], entry["units"]["images"]) == ("success", HOLD, 2)


def test_a_charge_kept_after_the_sweepers_index_copy_was_read_is_charged_not_refunded(
    gateway_url, upstream, aws_local, make_tenant, monkeypatch
):
    tenant = make_tenant("10")
    task = start_task(gateway_url, tenant.key)
    records = deliver(aws_local)
    repository = CreditRepository(get_settings().table_name)
    stale = repository.get_reservation(task["task_id"])  # as the sweeper's index still shows it: no charge kept
    assert stale is not None

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise StorageUnavailable("ThrottlingException")

    monkeypatch.setattr(CreditRepository, "settle", failing)  # the charge is kept on the reservation
    assert run_worker(records) == {"batchItemFailures": []}
    monkeypatch.undo()
    # A settlement from the stale copy writes nothing (it would have refunded the kept charge)
    assert settle_expired(stale) is None
    assert ledger_entry(task["task_id"]) is None
    # And the sweeper, listing the stale copy, reads the reservation again and charges what it keeps
    listed = iter([[stale], []])
    monkeypatch.setattr(CreditRepository, "expired_reservations", lambda self, moment, limit: next(listed))
    sweep_expired(now=stale.expires_at + 1)
    monkeypatch.undo()
    assert task_of(gateway_url, tenant.key, task["task_id"])["status"] == "succeeded"
    assert balance_of(tenant.account_id) == GRANT - HOLD


def test_a_message_delivered_twice_at_once_asks_the_provider_once_and_charges_once(
    gateway_url, upstream, fake_servers, aws_local, make_tenant
):
    images = fake_servers["images"]
    tenant = make_tenant("10")
    task = start_task(gateway_url, tenant.key)
    records = deliver(aws_local)
    images.answering.clear()  # the first delivery's provider call is under way
    first: dict = {}  # type: ignore[type-arg]
    worker = threading.Thread(target=lambda: first.update(run_worker(records)))
    worker.start()
    try:
        deadline = time.monotonic() + 20
        while not images.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(images.requests) == 1
        # When SQS hands the same message to a second worker meanwhile
        second = run_worker(records)
        # Then that delivery asks no provider and goes back to the queue, to be retried
        assert second == {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}
        assert len(images.requests) == 1
    finally:
        images.answering.set()
        worker.join(30)
    assert first == {"batchItemFailures": []}
    assert task_of(gateway_url, tenant.key, task["task_id"])["status"] == "succeeded"
    # And its retry, after the first delivery is done, finds the task ended: one provider call, one charge
    assert run_worker(records) == {"batchItemFailures": []}
    assert len(images.requests) == 1
    assert balance_of(tenant.account_id) == GRANT - HOLD
    entry = ledger_entry(task["task_id"])
    assert entry is not None
    assert entry["credits"] == HOLD


def test_a_task_whose_worker_died_mid_run_is_worked_by_the_next_delivery(
    gateway_url, upstream, fake_servers, aws_local, make_tenant, monkeypatch
):
    tenant = make_tenant("10")
    task = start_task(gateway_url, tenant.key)
    records = deliver(aws_local)
    # a worker claimed it and died (its claim is for the function's timeout)
    assert CreditRepository(get_settings().table_name).get_reservation(task["task_id"]) is not None
    assert stores().tasks.claim(task["task_id"], now=clock.now_epoch(), seconds=get_settings().image_task_work_seconds)
    assert run_worker(records) == {"batchItemFailures": [{"itemIdentifier": records[0]["messageId"]}]}
    # When SQS delivers the message again after its visibility timeout (longer than that timeout)
    real = clock.now
    monkeypatch.setattr(clock, "now", lambda: real() + get_settings().image_task_work_seconds + 60)
    assert run_worker(records) == {"batchItemFailures": []}
    monkeypatch.undo()
    # Then the task is worked and charged once
    assert task_of(gateway_url, tenant.key, task["task_id"])["status"] == "succeeded"
    assert len(fake_servers["images"].requests) == 1
    assert balance_of(tenant.account_id) == GRANT - HOLD
