"""Console users: the account each Cognito user (by its `sub`) acts for."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.storage import dynamo, layout


@dataclass(frozen=True)
class ConsoleUser:
    sub: str  # the Cognito user's immutable id
    account_id: str
    email: str
    created_at: str

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> ConsoleUser:
        return cls(sub=item["sub"], account_id=item["account_id"], email=item["email"], created_at=item["created_at"])


class UserRepository(dynamo.TableRepository):
    def get(self, sub: str) -> ConsoleUser | None:
        answer = self.db.get_item(TableName=self.table, Key=layout.user_key(sub), ConsistentRead=True)
        item = answer.get("Item")
        return ConsoleUser.from_item(dynamo.from_item(item)) if item else None

    def add(self, user: ConsoleUser) -> ConsoleUser:
        """Record the user unless it is recorded already; returns the record that stands."""
        values = {"sub": user.sub, "account_id": user.account_id, "email": user.email, "created_at": user.created_at}
        try:
            self.db.put_item(
                TableName=self.table,
                Item={**layout.user_key(user.sub), **dynamo.to_attributes(values)},
                ConditionExpression="attribute_not_exists(pk)",
            )
        except dynamo.DynamoError as error:
            if error.code != "ConditionalCheckFailedException":
                raise
            existing = self.get(user.sub)
            assert existing is not None
            return existing
        return user
