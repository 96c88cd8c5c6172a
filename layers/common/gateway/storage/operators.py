"""What operators read and change across accounts: the account directory (search by name), an
account's `disabled` switch, the operator log (every operator action) and the cached totals of
finished days over the whole platform."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from gateway.storage import dynamo, layout
from gateway.storage.accounts import Account
from gateway.storage.gates import change_account
from gateway.storage.transactions import ConditionsFailed

TOP_UP_ACTION = "top_up"
DISABLE_ACTION = "disable_account"
ENABLE_ACTION = "enable_account"


class ActionReplayed(Exception):
    """The operator log already holds this action id: the action was done before (a retried submit)."""


@dataclass(frozen=True)
class LogPage:
    entries: list[dict[str, Any]]
    cursor: str | None


@dataclass(frozen=True)
class DirectoryPage:
    account_ids: list[str]
    cursor: str | None


class OperatorRepository(dynamo.TableRepository):
    # The account directory (GSI3, keys only)

    def search(self, prefix: str, *, size: int, cursor: str | None) -> DirectoryPage:
        """Accounts whose lower-case name starts with `prefix` (every account for ""), by name."""
        values: dict[str, Any] = {":pk": {"S": layout.ACCOUNTS_PK}}
        condition = "gsi3pk = :pk"
        if prefix:
            condition += " AND begins_with(gsi3sk, :prefix)"
            values[":prefix"] = {"S": prefix.lower()[: layout.NAME_INDEX_CHARS]}
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": layout.GSI3,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": values,
            "Limit": size,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = _decode(cursor, {"pk", "sk", "gsi3pk", "gsi3sk"}, layout.ACCOUNTS_PK)
        page = self.db.query(**kwargs)
        ids = [item["gsi3sk"]["S"].rpartition("#")[2] for item in page.get("Items", [])]
        last = page.get("LastEvaluatedKey")
        return DirectoryPage(ids, _encode(last) if last else None)

    def list_in_directory(self, account: Account) -> bool:
        """List an account created before the directory existed; False when it is listed already."""
        index = layout.account_directory_index(account.account_id, account.name)
        try:
            self.db.update_item(
                TableName=self.table,
                Key=layout.account_key(account.account_id),
                UpdateExpression="SET gsi3pk = :pk, gsi3sk = :sk",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(gsi3pk)",
                ExpressionAttributeValues={":pk": {"S": index["gsi3pk"]}, ":sk": {"S": index["gsi3sk"]}},
            )
        except dynamo.DynamoError as error:
            if error.code == "ConditionalCheckFailedException":
                return False
            raise
        return True

    # Disabling an account

    def set_disabled(self, account: Account, disabled: bool, log_entry: dict[str, Any]) -> None:
        """Switch the account, move its gate (storage/gates.py: a request admitted on the account as
        it was is refused) and write the operator log's entry, in one transaction. Raises
        ActionReplayed when the entry exists (nothing else is written then)."""
        expression = "SET disabled = :true" if disabled else "REMOVE disabled"
        try:
            change_account(
                self.db,
                self.table,
                account.account_id,
                f"{expression} ADD gate :one",
                {":true": True} if disabled else {},
                after=[log_entry],
            )
        except ConditionsFailed as failed:
            if failed.failed(len(failed.codes) - 1):
                raise ActionReplayed from failed
            raise

    def transact(self, writes: list[dict[str, Any]], log_entry: dict[str, Any]) -> None:
        try:
            self.db.transact_write_items(TransactItems=[*writes, log_entry])
        except dynamo.DynamoError as error:
            if log_entry_refused(error):
                raise ActionReplayed from error
            raise

    # The operator log

    def log_entry(self, values: dict[str, Any]) -> dict[str, Any]:
        """The Put of one operator action (for a transaction): `action_id`, `at`, `account_id` (None for
        an action on no account: the catalog, codes), ..."""
        index = layout.operator_log_index(values.get("account_id"), values["at"], values["action_id"])
        item = {**layout.operator_log_key(values["action_id"]), **dynamo.to_attributes({**values, **index})}
        return {"Put": {"TableName": self.table, "Item": item, "ConditionExpression": "attribute_not_exists(pk)"}}

    def get_action(self, action_id: str) -> dict[str, Any] | None:
        answer = self.db.get_item(TableName=self.table, Key=layout.operator_log_key(action_id), ConsistentRead=True)
        item = answer.get("Item")
        return _log_values(dynamo.from_item(item)) if item else None

    def log(self, *, account_id: str | None, size: int, cursor: str | None) -> LogPage:
        """Operator actions newest first: all of them (GSI1), or one account's (GSI2)."""
        index, pk_name, sk_name, pk = (
            (layout.GSI2, "gsi2pk", "gsi2sk", layout.account_operator_log_pk(account_id))
            if account_id
            else (layout.GSI1, "gsi1pk", "gsi1sk", layout.OPERATOR_LOG_PK)
        )
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "IndexName": index,
            "KeyConditionExpression": "#pk = :pk",
            "ExpressionAttributeNames": {"#pk": pk_name},
            "ExpressionAttributeValues": {":pk": {"S": pk}},
            "ScanIndexForward": False,
            "Limit": size,
        }
        if cursor:
            kwargs["ExclusiveStartKey"] = _decode(cursor, {"pk", "sk", pk_name, sk_name}, pk)
        page = self.db.query(**kwargs)
        last = page.get("LastEvaluatedKey")
        entries = [_log_values(dynamo.from_item(item)) for item in page.get("Items", [])]
        return LogPage(entries, _encode(last) if last else None)

    # Totals of finished days over every account

    def platform_days(self, day_from: str, day_to: str) -> dict[str, dict[str, int]]:
        answer = self.db.query(
            TableName=self.table,
            KeyConditionExpression="pk = :pk AND sk BETWEEN :start AND :end",
            ExpressionAttributeValues={
                ":pk": {"S": layout.PLATFORM_DAYS_PK},
                ":start": {"S": day_from},
                ":end": {"S": day_to},
            },
        )
        days = {}
        for raw in answer.get("Items", []):
            item = dynamo.from_item(raw)
            days[item["sk"]] = {name: int(value) for name, value in item["totals"].items()}
        return days

    def save_platform_day(self, day: str, totals: dict[str, int]) -> None:
        self.db.put_item(
            TableName=self.table,
            Item={**layout.platform_day_key(day), **dynamo.to_attributes({"totals": totals})},
        )


def log_entry_refused(error: dynamo.DynamoError) -> bool:
    """A transaction ending with an operator log entry was cancelled because that entry exists."""
    codes = dynamo.cancellation_codes(error)
    return bool(codes) and codes[-1] == "ConditionalCheckFailed"


def _log_values(item: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in item.items() if name not in ("pk", "sk") and not name.startswith("gsi")}


def _encode(position: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(position, separators=(",", ":")).encode()).decode()


def _decode(cursor: str, names: set[str], partition: str) -> dict[str, Any]:
    """The position a cursor of this listing holds; ValueError for anything else."""
    try:
        position = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, UnicodeDecodeError, RecursionError) as error:  # JSON nested past the parser's limit
        raise ValueError("invalid cursor") from error
    valid = (
        isinstance(position, dict)
        and set(position) == names
        and all(
            isinstance(value, dict) and set(value) == {"S"} and isinstance(value["S"], str)
            for value in position.values()
        )
        and partition in {value["S"] for value in position.values()}
    )
    if not valid:
        raise ValueError("invalid cursor")
    return dict(position)
