"""For tests that write ledger entries straight to the table: keep the account's ledger balanced
(the suite ends by auditing every account)."""

from __future__ import annotations

from gateway.config import get_settings
from gateway.services import accounts
from gateway.storage import dynamo, layout


def charge_as_settlements_would(account_id: str, charged: int) -> None:
    """The written entries stand for settled requests: grant their credits and take them from the
    balance, as settlements would have."""
    accounts.top_up(account_id, charged)
    dynamo.client().update_item(
        TableName=get_settings().table_name,
        Key=layout.account_key(account_id),
        UpdateExpression="ADD balance :charged",
        ExpressionAttributeValues={":charged": {"N": str(-charged)}},
    )
