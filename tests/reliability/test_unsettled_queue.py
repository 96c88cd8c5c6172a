"""The unsettled queue (billing/unsettled.py): an answer whose settlement and pending record DynamoDB
both refused is still charged, once. The sweeper applies the queue before it gives any hold back;
a hold given back first (an outage longer than its window) is charged late, from any of the
account's shards, never below zero; a message delivered twice charges once; a pending record that
committed but lost its answer is not charged again; a message that cannot be applied is left, and
the others are applied; with DynamoDB and SQS both refusing, the hold can only be released."""

from __future__ import annotations

import json

import httpx

from gateway.billing import unsettled
from gateway.billing.holds import RELEASE_MARGIN_SECONDS, pending_entry
from gateway.config import get_settings
from gateway.services import accounts
from gateway.storage import layout
from gateway.storage.credits import CreditRepository, Reservation
from gateway.storage.errors import StorageUnavailable
from gateway.storage.objects import sqs
from tests.conftest import ledger_entry
from tests.reliability.test_money_invariants import pending_holds
from tests.support.pricing import price_micro


def after(window: int, seconds: int = 1) -> int:
    return layout.window_end(window) + RELEASE_MARGIN_SECONDS + seconds


def chat(gateway_url: str, key: str) -> httpx.Response:
    return httpx.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "test/echo", "messages": [{"role": "user", "content": "hello"}]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    )


def answered_with_the_store_down(gateway_url: str, tenant, monkeypatch, *, queue: bool = True):  # type: ignore[no-untyped-def]
    """A chat answered while DynamoDB takes neither its settlement nor its pending record (and, with
    `queue` False, while the unsettled queue refuses it too): (the answer, its hold's shard, window and
    amount)."""
    from tests.conftest import balance_of, settled

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise StorageUnavailable("ThrottlingException")

    monkeypatch.setattr(CreditRepository, "settle", failing)
    monkeypatch.setattr(CreditRepository, "record_pending", failing)
    if not queue:
        monkeypatch.setattr(unsettled, "sqs", failing)
    response = chat(gateway_url, tenant.key)
    settled()
    monkeypatch.undo()
    assert response.status_code == 200
    assert pending_holds(tenant.account_id) == []
    shards = accounts.get_account(tenant.account_id).balance_shards
    ((number, window, amount),) = [(s.number, *item) for s in shards for item in s.held.items() if item[1]]
    assert balance_of(tenant.account_id) == 10_000_000 - amount
    return response, number, window, amount


def charge_of(response: httpx.Response) -> int:
    usage = response.json()["usage"]
    return price_micro(usage["prompt_tokens"], usage["completion_tokens"])


def test_a_settlement_that_cannot_even_be_recorded_is_charged_from_the_unsettled_queue(
    gateway_url, upstream, make_tenant, monkeypatch
):
    from gateway.billing.sweeper import sweep_expired
    from tests.conftest import balance_of

    tenant = make_tenant("10")
    # Given an answer whose settlement and pending record DynamoDB both refused: its charge went to SQS
    response, _, window, amount = answered_with_the_store_down(gateway_url, tenant, monkeypatch)
    # When the sweeper comes, the hold's window over: it applies the queue before it gives holds back
    result = sweep_expired(now=after(window))
    # Then the answer is charged against its hold, nothing is released, and once only
    charge = charge_of(response)
    assert (result.settled, result.charged, result.released, result.late) == (1, charge, 0, 0)
    assert balance_of(tenant.account_id) == 10_000_000 - charge
    entry = ledger_entry(response.headers["x-trace-id"])
    assert entry is not None
    assert (entry["status"], entry["credits"], entry["reserved"]) == ("success", charge, amount)
    assert sweep_expired(now=after(window, 2)).settled == 0


def test_a_queued_charge_whose_hold_was_given_back_first_is_charged_late_never_below_zero(
    gateway_url, upstream, make_tenant, monkeypatch
):
    from gateway.billing import holds
    from gateway.billing.sweeper import sweep_expired
    from tests.conftest import balance_of

    first, second = make_tenant("10"), make_tenant("10")
    answers = [answered_with_the_store_down(gateway_url, tenant, monkeypatch) for tenant in (first, second)]
    # Given their holds given back before the queue was applied (an outage longer than the window:
    # a request saw the ended window first), and the second account's balance spent to 1 micro-credit
    for tenant, (_, number, window, _) in zip((first, second), answers, strict=True):
        holds.tidy(tenant.account_id, number, now=after(window))
        assert balance_of(tenant.account_id) == 10_000_000
    spend_all_but_one(second, answers[1][1])
    # When the sweeper applies the queue
    (_, _, window, amount) = answers[0]
    result = sweep_expired(now=after(window, 2))
    # Then each answer is charged late from its balance, never below zero, and booked in the ledger
    charge = charge_of(answers[0][0])
    assert (result.late, result.charged) == (2, charge + 1)
    assert balance_of(first.account_id) == 10_000_000 - charge
    assert balance_of(second.account_id) == 0
    entries = [ledger_entry(response.headers["x-trace-id"]) for response, *_ in answers]
    assert [(e["credits"], e["reserved"]) for e in entries if e] == [(charge, amount), (1, answers[1][3])]
    # And applying the queue again charges nothing more
    assert sweep_expired(now=after(window, 3)).late == 0


def spend_all_but_one(tenant, number: int) -> None:  # type: ignore[no-untyped-def]
    """The account's balance spent down to one micro-credit, kept on shard `number`: each shard
    charged what it has beyond that, with a ledger entry (the books stay balanced)."""
    from gateway.billing.credits import Outcome, ledger_entry
    from gateway.clock import now_iso
    from gateway.ids import new_trace_id
    from gateway.storage.stores import stores

    for shard in accounts.get_account(tenant.account_id).balance_shards:
        spent = shard.balance - (1 if shard.number == number else 0)
        if spent > 0:
            spending = Reservation(
                new_trace_id(), tenant.account_id, tenant.key_hash, "sk-gw-", "test/echo", spent, now_iso(), 0,
                shard=shard.number,
            )  # fmt: skip
            outcome = Outcome("chat", "openai", 200, None, 0, 0, spent, 1)
            assert stores().credits.charge_late(spending, ledger_entry(spending, outcome), 2**31) is not None


def test_a_settlement_refused_by_the_store_and_the_queue_leaves_the_hold_for_the_sweeper(
    gateway_url, upstream, make_tenant, monkeypatch
):
    from gateway.billing.sweeper import sweep_expired
    from tests.conftest import balance_of

    tenant = make_tenant("10")
    _, _, window, amount = answered_with_the_store_down(gateway_url, tenant, monkeypatch, queue=False)
    # Then with nothing kept anywhere, the sweeper can only release the hold (the one ending where the
    # provider is paid and the client not: DynamoDB and SQS both failing at once)
    assert sweep_expired(now=after(window)).released == amount
    assert balance_of(tenant.account_id) == 10_000_000


def test_a_late_charge_takes_the_accounts_credits_from_its_other_shards(
    gateway_url, upstream, make_tenant, monkeypatch
):
    from gateway.billing import holds
    from gateway.billing.sweeper import sweep_expired
    from gateway.storage.stores import stores
    from tests.conftest import balance_of

    tenant = make_tenant("10")
    response, number, window, _ = answered_with_the_store_down(gateway_url, tenant, monkeypatch)
    holds.tidy(tenant.account_id, number, now=after(window))
    # Given the hold's shard emptied into another (the account running low gathers its credits so)
    shards = accounts.get_account(tenant.account_id).balance_shards
    emptied = next(s for s in shards if s.number == number)
    other = next(s for s in shards if s.number != number)
    assert stores().accounts.balances.move(tenant.account_id, {number: -emptied.balance, other.number: emptied.balance})
    # When the queue is applied: the whole charge is taken, from the account's other shards
    assert sweep_expired(now=after(window, 2)).late == 1
    charge = charge_of(response)
    assert balance_of(tenant.account_id) == 10_000_000 - charge
    entry = ledger_entry(response.headers["x-trace-id"])
    assert entry is not None
    assert entry["credits"] == charge


def test_a_message_delivered_twice_and_a_pending_record_that_committed_charge_once(
    gateway_url, upstream, make_tenant, monkeypatch
):
    from gateway.billing.sweeper import sweep_expired
    from tests.conftest import balance_of, settled

    tenant = make_tenant("10")

    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise StorageUnavailable("ThrottlingException")

    # Given a settlement that failed, whose pending record was written (its answer lost: the charge
    # was also sent to the queue), and SQS delivering that message twice
    monkeypatch.setattr(CreditRepository, "settle", failing)
    response = chat(gateway_url, tenant.key)
    settled()
    monkeypatch.undo()
    (held,) = pending_holds(tenant.account_id)
    for _ in range(2):
        assert unsettled.keep(held, pending_entry(held))
    # When the sweeper comes
    result = sweep_expired(now=after(held.window))
    # Then the answer is charged once, and its pending record is gone with the hold
    charge = charge_of(response)
    assert (result.charged, result.released) == (charge, 0)
    assert balance_of(tenant.account_id) == 10_000_000 - charge
    repository = CreditRepository(get_settings().table_name)
    assert repository.pending_in(tenant.account_id, held.shard, held.window) == []


def test_a_message_that_cannot_be_applied_is_left_and_the_others_are_applied(
    gateway_url, upstream, make_tenant, monkeypatch
):
    from gateway.billing.sweeper import sweep_expired
    from tests.conftest import balance_of

    queue = get_settings().unsettled_queue_url
    # Given a message no version of the gateway can read, before a real one
    sqs().send_message(QueueUrl=queue, MessageBody=json.dumps({"trace_id": {"S": "t"}}))
    tenant = make_tenant("10")
    try:
        response, _, window, _ = answered_with_the_store_down(gateway_url, tenant, monkeypatch)
        # When the sweeper comes: the real one is charged, the sweep goes on
        assert sweep_expired(now=after(window)).charged == charge_of(response)
        assert balance_of(tenant.account_id) == 10_000_000 - charge_of(response)
        # And the unreadable one is left on the queue (for the alarm), not dropped
        attributes = sqs().get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
        waiting = int(attributes["ApproximateNumberOfMessages"]) + int(
            attributes["ApproximateNumberOfMessagesNotVisible"]
        )
        assert waiting == 1
    finally:
        sqs().purge_queue(QueueUrl=queue)
