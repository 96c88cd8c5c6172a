"""The ledger audit the property suite ends every example with, behind one function.

`audit_account` recomputes an account from its ledger entries and open holds and fails on any drift;
once the sweeper has run, it also runs the gateway's own audit (`gateway.billing.audit`, what
`gateway-admin audit` prints), which recomputes the balance from the grant entries, the daily usage
aggregates and the open holds. The assertions here cover what that audit does not: no balance above
its grant, no negative or oversized entry, no trace charged twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.billing import audit as gateway_audit
from gateway.config import get_settings
from gateway.storage import dynamo, layout
from gateway.storage.accounts import AccountRepository
from gateway.storage.credits import CreditRepository, Reservation

FAR_FUTURE = 9_999_999_999  # epoch seconds, ten digits as the reservation index sorts them


def past_every_hold() -> int:
    """A moment by which every hold taken now has expired and its window has ended: the sweeper, run
    then, settles or releases all of them."""
    from gateway.billing.holds import RELEASE_MARGIN_SECONDS
    from gateway.clock import now_epoch
    from gateway.storage import layout

    expires = now_epoch() + get_settings().reservation_ttl_seconds
    return layout.window_end(layout.hold_window(expires)) + RELEASE_MARGIN_SECONDS + 1


@dataclass(frozen=True)
class Books:
    balance: int
    granted: int
    entries: list[dict[str, Any]]  # the account's ledger entries
    holds: list[Reservation]  # its open reservations

    @property
    def charges(self) -> int:
        return sum(int(entry["credits"]) for entry in self.entries)

    def entry(self, trace_id: str | None) -> dict[str, Any] | None:
        return next((entry for entry in self.entries if entry["trace_id"] == trace_id), None)


def audit_account(account_id: str, granted: int, *, swept: bool) -> Books:
    """Every invariant of one account's money; `swept`: the sweeper has run past every hold, so none
    may be left and the ledger alone must explain the balance. `granted` is what the test gave it."""
    table = get_settings().table_name
    account = AccountRepository(table).get(account_id)
    assert account is not None, f"account {account_id} vanished"
    entries = _ledger(table, account_id)
    holds = [r for r in CreditRepository(table).expired_reservations(FAR_FUTURE, 10_000) if r.account_id == account_id]
    books = Books(account.balance, account.granted, entries, holds)
    shard_holds = account.holds  # every hold: counted in its window, or recorded (with a reservation item)

    assert account.granted == granted, f"granted moved without a top-up: {granted} -> {account.granted}"
    assert account.balance <= granted, f"balance rose above what was granted: {account.balance} > {granted}"
    assert account.balance <= granted - books.charges, f"balance above granted - charges: {books}"
    assert account.balance >= 0, f"balance below zero: {account.balance}"
    for entry in entries:
        assert int(entry["reserved"]) >= 0, f"negative hold {entry['reserved']} ({entry['trace_id']})"
        assert int(entry["credits"]) >= 0, f"negative charge {entry['credits']} ({entry['trace_id']})"
        assert int(entry["credits"]) <= int(entry["reserved"]), f"charge above its hold: {entry}"
    for hold in holds:
        assert hold.amount >= 0, f"negative open hold {hold.amount} ({hold.trace_id})"
    assert len({entry["trace_id"] for entry in entries}) == len(entries), "a trace id is in the ledger twice"
    assert shard_holds >= sum(hold.amount for hold in holds), f"a reservation item not held on a shard: {holds}"
    assert granted - account.balance == books.charges + shard_holds, (
        f"drift: granted {granted} - balance {account.balance} != charges {books.charges} + holds {shard_holds}"
    )
    if swept:
        assert not holds, f"holds left after the sweeper ran past them: {holds}"
        assert shard_holds == 0, f"{shard_holds} still held after the sweeper ran past every hold"
        from devtools.aggregator import drain

        drain()
        report = gateway_audit.audit_account(account_id, drained=True)
        assert report.balanced, f"gateway-admin audit found drift: {report.view()}"
    return books


def _ledger(table: str, account_id: str) -> list[dict[str, Any]]:
    """Every ledger entry of the account, read from its index (all dates)."""
    items: list[dict[str, Any]] = []
    for pk in layout.account_traces_pks(account_id):
        query: dict[str, Any] = {
            "TableName": table,
            "IndexName": layout.GSI1,
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": pk}},
        }
        while True:
            page = dynamo.client().query(**query)
            items.extend(dynamo.from_item(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return items
