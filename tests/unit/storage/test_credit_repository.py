"""The credit repository against a scripted DynamoDB client: the writes each hold and settlement make
(one update of one balance shard, or one transaction), how refusals are named, and what is retried.
(The same repository against DynamoDB Local: tests/integration/test_credit_store_walls.py, the money
tests and tests/integration/test_write_units.py.)"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from gateway.storage import layout
from gateway.storage.balances import seen_slot, window_name
from gateway.storage.channel_windows import ChannelGuard
from gateway.storage.credits import CONFLICT_RETRIES, CreditRepository, KeyGuard, LedgerEntry, Reservation
from gateway.storage.dynamo import to_attributes
from gateway.storage.dynamo_client import DynamoError
from gateway.storage.errors import InvalidAmount, ReservationRefused, StorageUnavailable

TABLE = "unit"
NOW = 1_800_000_000
HOLD = Reservation("gen-0a", "acct", "k" * 64, "sk-gw-k", "t/model", 5_000, "2027-01-15T08:00:00Z", NOW + 960, shard=3)
WINDOW = window_name(layout.hold_window(NOW + 960))
SHARD = {
    "pk": "BALANCE#acct#3", "sk": "BALANCE", "account_id": "acct", "shard": 3, "balance": 95_000,
    "held": {WINDOW: 5_000}, "recorded": 0, "charged": {}, "charged_before": 0, "gate": 7, "seen": {},
}  # fmt: skip


class ScriptedDynamo:
    """Records each call; answers with the scripted errors, in order (then success)."""

    def __init__(self, *errors: DynamoError) -> None:
        self.errors = list(errors)
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def _answer(self, name: str, request: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((name, request))
        if self.errors:
            raise self.errors.pop(0)
        return {"Attributes": to_attributes(SHARD)} if request.get("ReturnValues") == "ALL_NEW" else {}

    def transact_write_items(self, **request: Any) -> dict[str, Any]:
        return self._answer("transact_write_items", request)

    def update_item(self, **request: Any) -> dict[str, Any]:
        return self._answer("update_item", request)

    def put_item(self, **request: Any) -> dict[str, Any]:
        return self._answer("put_item", request)

    @property
    def items(self) -> list[dict[str, Any]]:
        """The items of the last transaction."""
        return [call for name, call in self.calls if name == "transact_write_items"][-1]["TransactItems"]


def cancelled(*reasons: str | tuple[str, dict[str, Any] | None]) -> DynamoError:
    """A cancelled transaction: per item, its code (and, for a failed condition, the item as it stood)."""
    listed = []
    for reason in reasons:
        code, item = reason if isinstance(reason, tuple) else (reason, None)
        listed.append({"Code": code, **({"Item": to_attributes(item)} if item is not None else {})})
    return DynamoError("TransactionCanceledException", "cancelled", {"CancellationReasons": listed})


def refused_update(item: dict[str, Any] | None) -> DynamoError:
    """A single conditional write refused, with the item as it stood (ReturnValuesOnConditionCheckFailure)."""
    return DynamoError("ConditionalCheckFailedException", "refused", {"Item": to_attributes(item)} if item else {})


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


def test_a_plain_hold_is_one_conditional_update_of_one_balance_shard() -> None:
    client = ScriptedDynamo()
    shard = repository(client).reserve(HOLD, KeyGuard(), NOW, gate=7)
    ((name, update),) = client.calls
    assert name == "update_item"
    assert update["Key"] == layout.balance_key("acct", 3)
    assert update["UpdateExpression"].startswith("SET balance = balance - :amount, held.#w = ")
    assert update["ExpressionAttributeNames"] == {"#w": WINDOW, "#slot": seen_slot("gen-0a")}
    assert "gate = :gate AND balance >= :amount" in update["ConditionExpression"]
    assert (update["ExpressionAttributeValues"][":gate"], update["ExpressionAttributeValues"][":amount"]) == (
        {"N": "7"},
        {"N": "5000"},
    )
    # the shard lists itself under the window of its latest hold, for the sweeper
    assert update["ExpressionAttributeValues"][":hpk"]["S"].startswith(f"HOLDS#{layout.hold_window(NOW + 960)}#")
    # and the new balance comes back: what this process knows of the shard
    assert shard is not None
    assert (shard.number, shard.balance, update["ReturnValues"]) == (3, 95_000, "ALL_NEW")


def test_a_key_limit_and_a_rate_limit_make_it_one_transaction_with_their_counters() -> None:
    client = ScriptedDynamo()
    guard = KeyGuard(limit_headroom=15_000, limit_until=NOW + 86_400, rate_limit=60, rate_window=30_000)
    assert repository(client).reserve(replace(HOLD, limit_period="2027-01"), guard, NOW, gate=7) is None
    shard, limit, rate = client.items
    assert shard["Update"]["Key"] == layout.balance_key("acct", 3)
    assert limit["Update"]["Key"] == layout.key_limit_key(HOLD.key_hash, "2027-01")
    assert limit["Update"]["ConditionExpression"] == "attribute_not_exists(#counter) OR #counter <= :ceiling"
    assert limit["Update"]["ExpressionAttributeValues"][":ceiling"] == {"N": "15000"}
    assert rate["Update"]["Key"] == layout.key_rate_key(HOLD.key_hash, 30_000)
    assert rate["Update"]["ConditionExpression"] == "attribute_not_exists(#counter) OR #counter < :ceiling"


def test_a_recorded_hold_writes_its_reservation_and_the_items_given_with_it() -> None:
    client = ScriptedDynamo()
    repository(client).reserve(replace(HOLD, recorded=True), KeyGuard(), NOW, [{"Put": {"task": 1}}], gate=7)
    shard, reservation, also = client.items
    assert "recorded = recorded + :amount" in shard["Update"]["UpdateExpression"]
    assert "held" not in shard["Update"]["UpdateExpression"]
    assert reservation["Put"]["ConditionExpression"] == "attribute_not_exists(pk)"
    assert (reservation["Put"]["Item"]["amount"], reservation["Put"]["Item"]["shard"]) == ({"N": "5000"}, {"N": "3"})
    assert reservation["Put"]["Item"]["gsi1sk"] == {"S": f"{NOW + 960:010d}#gen-0a"}
    assert also == {"Put": {"task": 1}}


def test_a_capped_channel_makes_the_hold_one_transaction_with_the_channels_counter() -> None:
    guard = ChannelGuard("ch-a", window=30_000, rpm=10, tpm=5_000)
    client = ScriptedDynamo()
    assert repository(client).reserve(replace(HOLD, channel="ch-a"), KeyGuard(), NOW, gate=7, channel=guard) is None
    shard, counter = client.items
    assert shard["Update"]["Key"] == layout.balance_key("acct", 3)
    assert counter["Update"]["Key"] == layout.channel_rate_key("ch-a", 30_000)
    assert counter["Update"]["ConditionExpression"] == (
        "(attribute_not_exists(requests) OR requests < :rpm) AND (attribute_not_exists(tokens) OR tokens < :tpm)"
    )
    uncapped = ScriptedDynamo()
    repository(uncapped).reserve(HOLD, KeyGuard(), NOW, gate=7, channel=ChannelGuard("ch-b", window=1))
    assert [name for name, _ in uncapped.calls] == ["update_item"]  # no caps, no counter: one write
    with pytest.raises(ReservationRefused) as refused:
        repository(ScriptedDynamo(cancelled("None", "ConditionalCheckFailed"))).reserve(
            HOLD, KeyGuard(), NOW, gate=7, channel=guard
        )
    assert refused.value.reason == "channel_full"


@pytest.mark.parametrize("amount", [0, -1, 10**12 + 1, 1.5, True])
def test_a_hold_outside_the_range_is_refused_before_anything_is_written(amount: Any) -> None:
    client = ScriptedDynamo()
    with pytest.raises(InvalidAmount):
        repository(client).reserve(replace(HOLD, amount=amount), KeyGuard(), NOW, gate=7)
    assert client.calls == []


def test_a_hold_above_the_keys_headroom_is_refused_without_a_write() -> None:
    client = ScriptedDynamo()
    with pytest.raises(ReservationRefused) as refused:
        repository(client).reserve(HOLD, KeyGuard(limit_headroom=-1), NOW, gate=7)
    assert (refused.value.reason, client.calls) == ("key_limit", [])


@pytest.mark.parametrize(
    ("shard", "refusal"),
    [
        ({**SHARD, "gate": 8}, "key_changed"),  # a key of the account changed since it was read
        ({**SHARD, "balance": 4_999}, "shard_short"),  # this shard cannot cover it: try another
        (None, "account_missing"),
    ],
)
def test_the_shard_as_it_stood_names_the_refusal(shard: dict[str, Any] | None, refusal: str) -> None:
    with pytest.raises(ReservationRefused) as refused:
        repository(ScriptedDynamo(refused_update(shard))).reserve(HOLD, KeyGuard(), NOW, gate=7)
    assert refused.value.reason == refusal
    limited, guard = replace(HOLD, limit_period="2027-01"), KeyGuard(limit_headroom=10_000, limit_until=NOW)
    client = ScriptedDynamo(cancelled(("ConditionalCheckFailed", shard), "None"))
    with pytest.raises(ReservationRefused) as in_a_transaction:
        repository(client).reserve(limited, guard, NOW, gate=7)
    assert in_a_transaction.value.reason == refusal


def test_the_limit_and_rate_counters_name_their_refusals() -> None:
    guard = KeyGuard(limit_headroom=1, limit_until=NOW, rate_limit=1, rate_window=1)
    limited = replace(HOLD, limit_period="2027-01")
    for position, reason in ((1, "key_limit"), (2, "rate_limited")):
        codes: list[Any] = ["None"] * 3
        codes[position] = "ConditionalCheckFailed"
        with pytest.raises(ReservationRefused) as refused:
            repository(ScriptedDynamo(cancelled(*codes))).reserve(limited, guard, NOW, gate=7)
        assert refused.value.reason == reason


def test_a_retried_hold_whose_first_attempt_went_through_is_taken_as_written() -> None:
    """The shard remembers the hold's trace in its slot: our earlier attempt's answer was lost."""
    taken = {**SHARD, "balance": 0, "seen": {seen_slot("gen-0a"): "gen-0a"}}
    shard = repository(ScriptedDynamo(refused_update(taken))).reserve(HOLD, KeyGuard(), NOW, gate=7)
    assert shard is not None
    assert shard.seen[seen_slot("gen-0a")] == "gen-0a"
    recorded = replace(HOLD, recorded=True)  # the reservation item exists: same conclusion
    repository(ScriptedDynamo(cancelled("None", "ConditionalCheckFailed"))).reserve(recorded, KeyGuard(), NOW, gate=7)


def test_write_conflicts_are_retried_and_then_reported_busy() -> None:
    client = ScriptedDynamo(DynamoError("TransactionConflictException", "in a transaction"))
    assert repository(client).reserve(HOLD, KeyGuard(), NOW, gate=7) is not None
    assert len(client.calls) == 2
    busy = ScriptedDynamo(*[DynamoError("TransactionConflictException", "again")] * CONFLICT_RETRIES)
    with pytest.raises(StorageUnavailable):
        repository(busy).reserve(HOLD, KeyGuard(), NOW, gate=7)
    with pytest.raises(StorageUnavailable):
        repository(ScriptedDynamo(DynamoError("ProvisionedThroughputExceededException", "slow"))).reserve(
            HOLD, KeyGuard(), NOW, gate=7
        )
    limited = replace(HOLD, limit_period="2027-01")
    guard = KeyGuard(limit_headroom=10_000, limit_until=NOW)
    conflicted = ScriptedDynamo(cancelled("TransactionConflict", "None"))
    repository(conflicted).reserve(limited, guard, NOW, gate=7)
    assert len(conflicted.calls) == 2


# ---------------------------------------------------------------- settlements


def test_a_settlement_releases_the_hold_charges_refunds_and_writes_the_ledger_in_one_transaction() -> None:
    client = ScriptedDynamo()
    held = replace(HOLD, limit_period="2027-01")
    assert repository(client).settle(held, entry(1_200), NOW + 90 * 86_400, [{"Update": {"task": "done"}}])
    shard, ledger, limit_release, also = client.items
    update = shard["Update"]
    assert update["Key"] == layout.balance_key("acct", 3)
    assert update["ConditionExpression"] == "held.#w >= :amount"
    assert (update["ExpressionAttributeNames"]["#w"], update["ExpressionAttributeNames"]["#day"]) == (
        WINDOW,
        "2027-01-15",
    )
    values = update["ExpressionAttributeValues"]
    assert (values[":refund"], values[":amount"], values[":charged"]) == ({"N": "3800"}, {"N": "5000"}, {"N": "1200"})
    assert ledger["Put"]["ConditionExpression"] == "attribute_not_exists(pk)"  # once
    assert {name: ledger["Put"]["Item"][name] for name in ("pk", "credits", "reserved")} == {
        "pk": {"S": "TRACE#gen-0a"},
        "credits": {"N": "1200"},
        "reserved": {"N": "5000"},
    }
    assert ledger["Put"]["Item"]["ttl"] == {"N": str(NOW + 90 * 86_400)}
    assert limit_release["Update"]["ExpressionAttributeValues"] == {":release": {"N": "-3800"}}
    assert also == {"Update": {"task": "done"}}


def test_a_recorded_hold_is_settled_with_its_reservation() -> None:
    client = ScriptedDynamo()
    repository(client).settle(replace(HOLD, recorded=True), entry(HOLD.amount), NOW)
    shard, _, reservation = client.items
    assert "recorded = recorded - :amount" in shard["Update"]["UpdateExpression"]
    assert shard["Update"]["ConditionExpression"] == "recorded >= :amount"
    assert shard["Update"]["ExpressionAttributeValues"][":refund"] == {"N": "0"}
    assert reservation["Delete"]["Key"] == layout.reservation_key("gen-0a")


def test_a_settlement_already_made_or_released_writes_nothing_and_says_so() -> None:
    for failed in (cancelled("ConditionalCheckFailed", "None"), cancelled("None", "ConditionalCheckFailed")):
        assert repository(ScriptedDynamo(failed)).settle(HOLD, entry(0), NOW) is False


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
    assert (name, request["ConditionExpression"]) == ("put_item", "attribute_not_exists(pk)")
    assert {"pk": request["Item"]["pk"], "sk": request["Item"]["sk"]} == layout.pending_key(
        "acct", 3, layout.hold_window(NOW + 960), "gen-0a"
    )
    assert request["Item"]["pending"]["M"]["credits"] == {"N": "900"}
    recorded = ScriptedDynamo()
    repository(recorded).record_pending(replace(HOLD, recorded=True), entry(900))
    ((name, request),) = recorded.calls
    assert (name, request["Key"]) == ("update_item", layout.reservation_key("gen-0a"))
    gone = ScriptedDynamo(DynamoError("ConditionalCheckFailedException", "settled meanwhile"))
    repository(gone).record_pending(replace(HOLD, recorded=True), entry(900))  # nothing left to keep it on: fine
    with pytest.raises(StorageUnavailable):
        repository(ScriptedDynamo(DynamoError("InternalServerError", "boom"))).record_pending(HOLD, entry(900))
