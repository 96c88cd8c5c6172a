"""The runtime catalog's items: models, providers, channels, price groups and settings, each a JSON
spec, in one partition (`CATALOG`) with a version stamp (`VERSION`) that every change bumps in the
same transaction. Readers compare the stamp and reload the partition only when it moved.

Nothing here knows what a model or a channel is: the catalog package validates the specs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.storage import dynamo, layout
from gateway.storage.transactions import TRANSACTION_ITEMS, ConditionsFailed, transact_also

Kind = Literal["MODEL", "PROVIDER", "CHANNEL", "GROUP", "SETTINGS", "DEFAULTS"]
KINDS: tuple[Kind, ...] = ("MODEL", "PROVIDER", "CHANNEL", "GROUP", "SETTINGS", "DEFAULTS")
SINGLE: frozenset[Kind] = frozenset({"SETTINGS", "DEFAULTS"})  # one item each, named ""
LOAD_ATTEMPTS = 5
WRITE_ORDER: tuple[Kind, ...] = ("DEFAULTS", "SETTINGS", "GROUP", "PROVIDER", "MODEL", "CHANNEL")


class VersionMoved(Exception):
    """Another change was written since the catalog was read: read it again."""


@dataclass(frozen=True)
class Spec:
    kind: Kind
    name: str  # model id, provider name, channel id, group name; "" for SETTINGS and DEFAULTS
    spec: dict[str, Any]
    position: int = 0  # models: their order in listings

    @property
    def sk(self) -> str:
        return sort_key(self.kind, self.name)


@dataclass(frozen=True)
class ControlItems:
    """The whole partition as of one version (0: never written, the shipped catalog stands)."""

    version: int
    specs: tuple[Spec, ...] = ()
    updated_at: str | None = None

    def of(self, kind: Kind) -> list[Spec]:
        found = [spec for spec in self.specs if spec.kind == kind]
        return sorted(found, key=lambda spec: (spec.position, spec.name))


@dataclass
class Change:
    """What one write puts and deletes; the version moves by one. `also`: items written in the same
    transaction (the operator log's entry of the change)."""

    puts: list[Spec] = field(default_factory=list)
    deletes: list[tuple[Kind, str]] = field(default_factory=list)
    also: list[dict[str, Any]] = field(default_factory=list)


def sort_key(kind: Kind, name: str) -> str:
    return kind if kind in SINGLE else f"{kind}#{name}"


class ControlRepository(dynamo.TableRepository):
    def version(self, *, consistent: bool = False) -> int:
        """The stamp alone (one small GetItem); 0 when the catalog was never written."""
        answer = self.db.get_item(
            TableName=self.table,
            Key=layout.catalog_key(layout.CATALOG_VERSION_SK),
            ConsistentRead=consistent,
            ProjectionExpression="version",
        )
        item = answer.get("Item")
        return int(dynamo.from_item(item)["version"]) if item else 0

    def load(self) -> ControlItems:
        """Every item of one version. A Query is not isolated from transactions, so the stamp is read
        before and after it, and the partition read again until the three agree."""
        for _ in range(LOAD_ATTEMPTS):
            before = self.version(consistent=True)
            items = self._query()
            stamp = next((item for item in items if item["sk"] == layout.CATALOG_VERSION_SK), None)
            during = int(stamp["version"]) if stamp else 0
            if before == during == self.version(consistent=True):
                specs = tuple(_spec(item) for item in items if item["sk"] != layout.CATALOG_VERSION_SK)
                return ControlItems(during, specs, stamp.get("updated_at") if stamp else None)
        raise VersionMoved("the catalog kept changing while it was read")

    def write(self, expected_version: int, change: Change, at_iso: str) -> int:
        """Apply `change` and bump the version, in one transaction, if the version is still
        `expected_version`; returns the new version. Raises VersionMoved otherwise (AlsoRefused when
        an item of `change.also` was refused)."""
        items = [*self._puts(change.puts, at_iso), *self._deletes(change.deletes)]
        items.append(self._bump(expected_version, at_iso))
        if len(items) + len(change.also) > TRANSACTION_ITEMS:
            raise ValueError(f"one change writes at most {TRANSACTION_ITEMS - 1 - len(change.also)} items")
        try:
            transact_also(self.db, items, change.also)
        except ConditionsFailed as failed:
            raise VersionMoved("the catalog changed meanwhile") from failed
        return expected_version + 1

    def replace(self, expected_version: int, change: Change, at_iso: str) -> int:
        """A change too big for one transaction (an import): its items in batches, then the version
        bump (with `change.also`), which alone makes readers load it. Readers that load meanwhile for
        another reason (a cold start) may see part of it until the bump: written in WRITE_ORDER, and
        a part that does not load is read again (catalog.live)."""
        if len(change.puts) + len(change.deletes) + len(change.also) < TRANSACTION_ITEMS:
            return self.write(expected_version, change, at_iso)
        # what others name first (providers before their models, models before their channels), and
        # the reverse for deletes, so a catalog read before the bump is one that loads
        puts = sorted(change.puts, key=lambda spec: WRITE_ORDER.index(spec.kind))
        deletes = sorted(change.deletes, key=lambda gone: -WRITE_ORDER.index(gone[0]))
        requests = [{"PutRequest": {"Item": put["Put"]["Item"]}} for put in self._puts(puts, at_iso)]
        requests += [{"DeleteRequest": {"Key": layout.catalog_key(sort_key(*gone))}} for gone in deletes]
        for start in range(0, len(requests), 25):
            self._batch(requests[start : start + 25])
        try:
            transact_also(self.db, [self._bump(expected_version, at_iso)], change.also)
        except ConditionsFailed as failed:
            raise VersionMoved("the catalog changed during the import") from failed
        return expected_version + 1

    def _puts(self, specs: Sequence[Spec], at_iso: str) -> list[dict[str, Any]]:
        return [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        **layout.catalog_key(spec.sk),
                        **dynamo.to_attributes(
                            {
                                "kind": spec.kind,
                                "name": spec.name,
                                "spec": json.dumps(spec.spec, separators=(",", ":"), sort_keys=True),
                                "position": spec.position,
                                "updated_at": at_iso,
                            }
                        ),
                    },
                }
            }
            for spec in specs
        ]

    def _deletes(self, deletes: Sequence[tuple[Kind, str]]) -> list[dict[str, Any]]:
        return [
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": layout.catalog_key(sort_key(kind, name)),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            }
            for kind, name in deletes
        ]

    def _bump(self, expected_version: int, at_iso: str) -> dict[str, Any]:
        """The stamp moves by one, from the version the change was made against (0: first write)."""
        condition = "attribute_not_exists(pk)" if expected_version == 0 else "version = :expected"
        values = {":next": expected_version + 1, ":at": at_iso}
        if expected_version:
            values[":expected"] = expected_version
        return {
            "Update": {
                "TableName": self.table,
                "Key": layout.catalog_key(layout.CATALOG_VERSION_SK),
                "UpdateExpression": "SET version = :next, updated_at = :at",
                "ConditionExpression": condition,
                "ExpressionAttributeValues": dynamo.to_attributes(values),
            }
        }

    def _batch(self, requests: list[dict[str, Any]]) -> None:
        pending = {self.table: requests}
        for _ in range(8):
            answer = self.db.batch_write_item(RequestItems=pending)
            pending = answer.get("UnprocessedItems") or {}
            if not pending:
                return
        raise dynamo.DynamoError("", "the catalog import could not be written (unprocessed items)")

    def _query(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        params: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": layout.CATALOG_PK}},
            "ConsistentRead": True,
        }
        while True:
            page = self.db.query(**params)
            items.extend(dynamo.from_item(item) for item in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return items
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _spec(item: dict[str, Any]) -> Spec:
    return Spec(item["kind"], item.get("name", ""), json.loads(item["spec"]), int(item.get("position", 0)))
