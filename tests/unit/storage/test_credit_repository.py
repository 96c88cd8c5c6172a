"""The credit repository against a scripted DynamoDB client: the transaction each hold and settlement
writes, how a cancelled transaction's reasons become refusals, and what is retried. (The same
repository against DynamoDB Local: tests/integration/test_credit_store_walls.py and the money tests.)"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gateway.storage import layout
from gateway.storage.credits import CONFLICT_RETRIES, CreditRepository, KeyGuard, LedgerEntry, Reservation
from gateway.storage.dynamo import to_attributes
from gateway.storage.dynamo_client import DynamoError
from gateway.storage.errors import InvalidAmount, ReservationRefused, StorageUnavailable

TABLE = "unit"
NOW = 1_800_000_000
HOLD = Reservation("gen-0a", "acct", "k" * 64, "sk-gw-k", "t/model", 5_000, "2027-01-15T08:00:00Z", NOW + 960)
KEY_ITEM = {"kind": "inference", "disabled": False, "version": 3}


class ScriptedDynamo:
    """Records each call; answers the transactions with the scripted errors, in order (then success)."""

    def __init__(self, *errors: DynamoError) -> None:
        self.errors = list(errors)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def transact_write_items(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("transact_write_items", request))
        if self.errors:
            raise self.errors.pop(0)
        return {}

    def update_item(self, **request: Any) -> dict[str, Any]:
        self.calls.append(("update_item", request))
        if self.errors:
            raise self.errors.pop(0)
        return {}

    @property
    def items(self) -> list[dict[str, Any]]:
        """The items of the last transaction."""
        return [call for name, call in self.calls if name == "transact_write_items"][-1]["TransactItems"]


def cancelled(*reasons: str | tuple[str, dict[str, Any]]) -> DynamoError:
    """A cancelled transaction: per item, its code (and, for a failed condition, the item as it stood)."""
    listed = []
    for reason in reasons:
        code, item = reason if isinstance(reason, tuple) else (reason, None)
        listed.append({"Code": code, **({"Item": to_attributes(item)} if item is not None else {})})
    return DynamoError("TransactionCanceledException", "cancelled", {"CancellationReasons": listed})


def repository(client: ScriptedDynamo) -> CreditRepository:
    return CreditRepository(TABLE, client)  # type: ignore[arg-type]


def entry(credits: int) -> LedgerEntry:
    return LedgerEntry(
        trace_id=HOLD.trace_id, account_id="acct", key_hash=HOLD.key_hash, key_prefix="sk-gw-k", model="t/model",
        provider="a", endpoint="chat.completions", status="success", http_status=200, error_code=None,
        prompt_tokens=10, completion_tokens=5, credits=credits, reserved=HOLD.amount, latency_ms=12,
        upstream_latency_ms=10, ttft_ms=None, stream=False, usage_estimated=False, created_at=HOLD.created_at,
        day="2027-01-15",
    )  # fmt: skip


# ---------------------------------------------------------------- holds


def test_a_hold_checks_the_key_takes_the_balance_and_writes_the_reservation_in_one_transaction() -> None:
    client = ScriptedDynamo()
    repository(client).reserve(HOLD, KeyGuard(version=3), NOW, [{"Put": {"TableName": TABLE, "Item": {}}}])
    key, account, reservation, also = client.items
    assert key["ConditionCheck"]["Key"] == layout.api_key_key(HOLD.key_hash)
    assert key["ConditionCheck"]["ExpressionAttributeValues"][":version"] == {"N": "3"}
    assert account["Update"]["Key"] == layout.account_key("acct")
    assert account["Update"]["ConditionExpression"] == (
        "attribute_exists(pk) AND balance >= :amount AND attribute_not_exists(disabled)"  # an operator's switch
    )
    assert account["Update"]["ExpressionAttributeValues"] == {":amount": {"N": "5000"}}
    assert reservation["Put"]["ConditionExpression"] == "attribute_not_exists(pk)"
    assert reservation["Put"]["Item"]["amount"] == {"N": "5000"}
    assert reservation["Put"]["Item"]["gsi1sk"] == {"S": f"{NOW + 960:010d}#gen-0a"}
    assert also == {"Put": {"TableName": TABLE, "Item": {}}}


def test_a_key_limit_and_a_rate_limit_are_counters_in_the_same_transaction() -> None:
    client = ScriptedDynamo()
    guard = KeyGuard(version=1, limit_headroom=15_000, limit_until=NOW + 86_400, rate_limit=60, rate_window=30_000)
    repository(client).reserve(replace(HOLD, limit_period="2027-01"), guard, NOW)
    _, _, limit, rate, _ = client.items
    assert limit["Update"]["Key"] == layout.key_limit_key(HOLD.key_hash, "2027-01")
    assert limit["Update"]["ConditionExpression"] == "attribute_not_exists(#counter) OR #counter <= :ceiling"
    assert limit["Update"]["ExpressionAttributeValues"][":ceiling"] == {"N": "15000"}
    assert rate["Update"]["Key"] == layout.key_rate_key(HOLD.key_hash, 30_000)
    assert rate["Update"]["ConditionExpression"] == "attribute_not_exists(#counter) OR #counter < :ceiling"


@pytest.mark.parametrize("amount", [0, -1, 10**12 + 1, 1.5, True])
def test_a_hold_outside_the_range_is_refused_before_anything_is_written(amount: Any) -> None:
    client = ScriptedDynamo()
    with pytest.raises(InvalidAmount):
        repository(client).reserve(replace(HOLD, amount=amount), KeyGuard(version=1), NOW)
    assert client.calls == []


def test_a_hold_above_the_keys_headroom_is_refused_without_a_write() -> None:
    client = ScriptedDynamo()
    with pytest.raises(ReservationRefused) as refused:
        repository(client).reserve(HOLD, KeyGuard(version=1, limit_headroom=-1), NOW)
    assert (refused.value.reason, client.calls) == ("key_limit", [])


@pytest.mark.parametrize(
    ("reasons", "refusal"),
    [
        ((("ConditionalCheckFailed", {**KEY_ITEM, "disabled": True}),), "key_disabled"),
        ((("ConditionalCheckFailed", {**KEY_ITEM, "kind": "management"}),), "key_wrong_kind"),
        ((("ConditionalCheckFailed", {**KEY_ITEM, "expires_at": NOW}),), "key_expired"),
        ((("ConditionalCheckFailed", {**KEY_ITEM, "version": 4}),), "key_changed"),
        ((("ConditionalCheckFailed", {**KEY_ITEM, "revoked": True}),), "key_missing"),
        ((("ConditionalCheckFailed", None),), "key_missing"),
        (("None", ("ConditionalCheckFailed", {"balance": 10})), "insufficient_credits"),
        (("None", ("ConditionalCheckFailed", None)), "account_missing"),
    ],
)
def test_the_failed_condition_names_the_refusal(reasons: tuple[Any, ...], refusal: str) -> None:
    codes = (*reasons, *["None"] * (3 - len(reasons)))
    with pytest.raises(ReservationRefused) as refused:
        repository(ScriptedDynamo(cancelled(*codes))).reserve(HOLD, KeyGuard(version=3), NOW)
    assert refused.value.reason == refusal


def test_the_limit_and_rate_counters_name_their_refusals() -> None:
    guard = KeyGuard(version=1, limit_headroom=1, limit_until=NOW, rate_limit=1, rate_window=1)
    limited = replace(HOLD, limit_period="2027-01")
    for position, reason in ((2, "key_limit"), (3, "rate_limited")):
        codes = ["None"] * 5
        codes[position] = "ConditionalCheckFailed"
        with pytest.raises(ReservationRefused) as refused:
            repository(ScriptedDynamo(cancelled(*codes))).reserve(limited, guard, NOW)
        assert refused.value.reason == reason


def test_a_retried_hold_whose_first_attempt_went_through_is_taken_as_written() -> None:
    """Only the reservation (and its companions) exist already: our earlier attempt's answer was lost."""
    repository(ScriptedDynamo(cancelled("None", "None", "ConditionalCheckFailed", "ConditionalCheckFailed"))).reserve(
        HOLD, KeyGuard(version=1), NOW, [{"Put": {}}]
    )


def test_write_conflicts_are_retried_and_then_reported_busy() -> None:
    client = ScriptedDynamo(cancelled("TransactionConflict", "None", "None"))
    repository(client).reserve(HOLD, KeyGuard(version=1), NOW)
    assert len(client.calls) == 2
    busy = ScriptedDynamo(*[cancelled("None", "ThrottlingError", "None")] * CONFLICT_RETRIES)
    with pytest.raises(StorageUnavailable):
        repository(busy).reserve(HOLD, KeyGuard(version=1), NOW)
    with pytest.raises(StorageUnavailable):
        repository(ScriptedDynamo(DynamoError("ProvisionedThroughputExceededException", "slow"))).reserve(
            HOLD, KeyGuard(version=1), NOW
        )


# ---------------------------------------------------------------- settlements


def test_a_settlement_charges_refunds_the_rest_and_writes_the_ledger_in_one_transaction() -> None:
    client = ScriptedDynamo()
    held = replace(HOLD, limit_period="2027-01")
    assert repository(client).settle(held, entry(1_200), NOW + 90 * 86_400, [{"Update": {"task": "done"}}])
    delete, ledger, usage, key_totals, limit_release, refund, also = client.items
    assert delete["Delete"]["Key"] == layout.reservation_key("gen-0a")
    assert {name: ledger["Put"]["Item"][name] for name in ("pk", "credits", "reserved")} == {
        "pk": {"S": "TRACE#gen-0a"},
        "credits": {"N": "1200"},
        "reserved": {"N": "5000"},
    }
    assert ledger["Put"]["Item"]["ttl"] == {"N": str(NOW + 90 * 86_400)}
    assert usage["Update"]["Key"] == layout.usage_key("acct", "2027-01-15", "t/model", HOLD.key_hash)
    assert key_totals["Update"]["ExpressionAttributeValues"][":charged"] == {"N": "1200"}
    assert limit_release["Update"]["ExpressionAttributeValues"] == {":release": {"N": "-3800"}}
    assert refund["Update"]["ExpressionAttributeValues"] == {":refund": {"N": "3800"}}
    assert also == {"Update": {"task": "done"}}


def test_a_settlement_of_the_whole_hold_refunds_nothing() -> None:
    client = ScriptedDynamo()
    repository(client).settle(HOLD, entry(HOLD.amount), NOW)
    assert [next(iter(item)) for item in client.items] == ["Delete", "Put", "Update", "Update"]


def test_a_settlement_already_made_writes_nothing_and_says_so() -> None:
    already = ScriptedDynamo(cancelled("ConditionalCheckFailed", "None", "None", "None", "None"))
    assert repository(already).settle(HOLD, entry(0), NOW) is False


@pytest.mark.parametrize("charge", [-1, HOLD.amount + 1])
def test_a_charge_outside_the_hold_is_refused_before_anything_is_written(charge: int) -> None:
    client = ScriptedDynamo()
    with pytest.raises(InvalidAmount):
        repository(client).settle(HOLD, entry(charge), NOW)
    assert client.calls == []


def test_a_charge_kept_for_the_sweeper_is_one_conditional_write() -> None:
    client = ScriptedDynamo()
    repository(client).record_pending(HOLD, entry(900))
    ((name, request),) = client.calls
    assert (name, request["ConditionExpression"]) == ("update_item", "attribute_exists(pk)")
    assert request["ExpressionAttributeValues"][":pending"]["M"]["credits"] == {"N": "900"}
    gone = ScriptedDynamo(DynamoError("ConditionalCheckFailedException", "settled meanwhile"))
    repository(gone).record_pending(HOLD, entry(900))  # nothing left to keep it on: fine
    with pytest.raises(StorageUnavailable):
        repository(ScriptedDynamo(DynamoError("InternalServerError", "boom"))).record_pending(HOLD, entry(900))
