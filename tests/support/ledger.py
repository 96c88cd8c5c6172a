"""For tests that write ledger entries straight to the table: keep the account's ledger balanced
(the suite ends by auditing every account)."""

from __future__ import annotations

from typing import Any

from gateway.config import get_settings
from gateway.services import accounts
from gateway.storage import dynamo, layout
from gateway.storage.balances import split


def charge_as_settlements_would(account_id: str, charged_by_day: dict[str, int]) -> None:
    """The written entries stand for settled requests: grant their credits, then take them from the
    balance shards and book them as the shards' charges of their days, as settlements would have."""
    total = sum(charged_by_day.values())
    account = accounts.top_up(account_id, total)
    table = get_settings().table_name
    items: list[dict[str, Any]] = []
    for number, share in enumerate(split(total, account.shards)):
        names = {f"#d{n}": day for n, day in enumerate(charged_by_day)} if number == 0 else {}
        values: dict[str, Any] = {":share": {"N": str(share)}, **({":zero": {"N": "0"}} if names else {})}
        books = ""
        for n, credits in enumerate(charged_by_day.values() if number == 0 else ()):
            values[f":d{n}"] = {"N": str(credits)}
            books += f", charged.#d{n} = if_not_exists(charged.#d{n}, :zero) + :d{n}"
        update: dict[str, Any] = {
            "TableName": table,
            "Key": layout.balance_key(account_id, number),
            "UpdateExpression": "SET balance = balance - :share" + books,
            "ExpressionAttributeValues": values,
        }
        if names:
            update["ExpressionAttributeNames"] = names
        items.append({"Update": update})
    dynamo.client().transact_write_items(TransactItems=items)
