"""The runtime catalog's items: models, providers, channels, price groups and settings, each a JSON
spec, in one partition (its home) named by a version stamp (`CATALOG`/`VERSION`) that every change
bumps. Readers compare the stamp and reload the home only when it moved.

A change that fits one transaction writes its items in the home with the bump. One that does not (an
import) writes the whole catalog it makes into a new home, in batches nobody reads, and then moves the
stamp to it in one conditioned update: readers see the catalog before or after it, never part of it,
and a failed import is only a partition no stamp names (deleted when the failure is known). The home
before it is deleted afterwards. A stamp without a home names `CATALOG` itself (the stamp's own partition).

Nothing here knows what a model or a channel is: the catalog package validates the specs."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.observability import logger
from gateway.storage import dynamo, layout
from gateway.storage.errors import StorageUnavailable
from gateway.storage.transactions import TRANSACTION_ITEMS, AlsoRefused, ConditionsFailed, transact_also

Kind = Literal["MODEL", "PROVIDER", "CHANNEL", "GROUP", "SETTINGS", "DEFAULTS"]
KINDS: tuple[Kind, ...] = ("MODEL", "PROVIDER", "CHANNEL", "GROUP", "SETTINGS", "DEFAULTS")
SINGLE: frozenset[Kind] = frozenset({"SETTINGS", "DEFAULTS"})  # one item each, named ""
LOAD_ATTEMPTS = 5
BATCH_ITEMS = 25  # DynamoDB's limit per BatchWriteItem
TRANSACTION_BYTES = 3_000_000  # below DynamoDB's 4 MB per TransactWriteItems, with room for keys and names


@dataclass(frozen=True)
class Stamp:
    """The catalog's version and the partition holding its items (version 0: never written)."""

    version: int
    home: str = layout.CATALOG_PK


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
    """The whole catalog as of one version (0: never written, the shipped catalog stands)."""

    version: int
    specs: tuple[Spec, ...] = ()
    updated_at: str | None = None
    home: str = layout.CATALOG_PK

    @property
    def stamp(self) -> Stamp:
        return Stamp(self.version, self.home)

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
        """The version alone (one small GetItem); 0 when the catalog was never written."""
        return self.stamp(consistent=consistent)[0].version

    def stamp(self, *, consistent: bool = False) -> tuple[Stamp, str | None]:
        """The stamp (0 and `CATALOG` when the catalog was never written), and when it last moved."""
        answer = self.db.get_item(
            TableName=self.table,
            Key=layout.catalog_key(layout.CATALOG_VERSION_SK),
            ConsistentRead=consistent,
            ProjectionExpression="version, home, updated_at",
        )
        item = dynamo.from_item(answer["Item"]) if answer.get("Item") else {}
        return Stamp(int(item.get("version", 0)), str(item.get("home", layout.CATALOG_PK))), item.get("updated_at")

    def load(self) -> ControlItems:
        """Every item of one version. A Query is not isolated from transactions, so the stamp is read
        before and after it, and the home read again until the two agree."""
        for _ in range(LOAD_ATTEMPTS):
            before, updated_at = self.stamp(consistent=True)
            items = self._query(before.home) if before.version else []
            if self.stamp(consistent=True)[0] == before:
                specs = tuple(_spec(item) for item in items if item["sk"] != layout.CATALOG_VERSION_SK)
                return ControlItems(before.version, specs, updated_at, before.home)
        raise VersionMoved("the catalog kept changing while it was read")

    def write(self, expected: Stamp, change: Change, at_iso: str) -> int:
        """Apply `change` in the home and bump the version, in one transaction, if the stamp is still
        `expected`; returns the new version. Raises VersionMoved otherwise (AlsoRefused when an item
        of `change.also` was refused)."""
        items = [*self._puts(expected.home, change.puts, at_iso), *self._deletes(expected.home, change.deletes)]
        items.append(self._bump(expected, expected.home, at_iso))
        if len(items) + len(change.also) > TRANSACTION_ITEMS:
            raise ValueError(f"one change writes at most {TRANSACTION_ITEMS - 1 - len(change.also)} items")
        try:
            transact_also(self.db, items, change.also)
        except ConditionsFailed as failed:
            raise VersionMoved("the catalog changed meanwhile") from failed
        return expected.version + 1

    def replace(self, expected: Stamp, change: Change, at_iso: str, *, whole: Sequence[Spec]) -> int:
        """`change`, whose result is `whole` (every spec of the catalog after it): in one transaction
        when it fits one, else as `whole` written into a new home that the stamp then moves to."""
        items = len(change.puts) + len(change.deletes) + len(change.also) + 1
        if items <= TRANSACTION_ITEMS and sum(_size(spec) for spec in change.puts) < TRANSACTION_BYTES:
            return self.write(expected, change, at_iso)
        home = f"{layout.CATALOG_PK}#{expected.version + 1}-{secrets.token_hex(4)}"
        puts = [{"PutRequest": {"Item": put["Put"]["Item"]}} for put in self._puts(home, whole, at_iso)]
        try:
            for start in range(0, len(puts), BATCH_ITEMS):
                self._batch(puts[start : start + BATCH_ITEMS])
            transact_also(self.db, [self._bump(expected, home, at_iso)], change.also)
        except (ConditionsFailed, AlsoRefused, dynamo.DynamoError) as refused:
            # the bump was refused or never sent: no stamp names the new home, which goes
            self._clear(home, "an import that was not written")
            if isinstance(refused, ConditionsFailed):
                raise VersionMoved("the catalog changed during the import") from refused
            raise
        except StorageUnavailable:
            if self.stamp(consistent=True)[0] != Stamp(expected.version + 1, home):
                raise  # not known to be written: the new home is left where nothing reads it
        self._clear(expected.home, "the catalog an import replaced")
        return expected.version + 1

    def _puts(self, home: str, specs: Sequence[Spec], at_iso: str) -> list[dict[str, Any]]:
        return [
            {
                "Put": {
                    "TableName": self.table,
                    "Item": {
                        **layout.key(home, spec.sk),
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

    def _deletes(self, home: str, deletes: Sequence[tuple[Kind, str]]) -> list[dict[str, Any]]:
        return [
            {
                "Delete": {
                    "TableName": self.table,
                    "Key": layout.key(home, sort_key(kind, name)),
                    "ConditionExpression": "attribute_exists(pk)",
                }
            }
            for kind, name in deletes
        ]

    def _bump(self, expected: Stamp, home: str, at_iso: str) -> dict[str, Any]:
        """The stamp moves by one, from the version the change was made against (0: first write), and
        names `home`."""
        condition = "attribute_not_exists(pk)" if expected.version == 0 else "version = :expected"
        values: dict[str, Any] = {":next": expected.version + 1, ":at": at_iso, ":home": home}
        if expected.version:
            values[":expected"] = expected.version  # every move of the home moves the version too
        return {
            "Update": {
                "TableName": self.table,
                "Key": layout.catalog_key(layout.CATALOG_VERSION_SK),
                "UpdateExpression": "SET version = :next, updated_at = :at, home = :home",
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

    def _clear(self, home: str, what: str) -> None:
        """Deletes a home no stamp names any longer (never the stamp itself); a failure leaves its items,
        which nothing reads, and is logged."""
        try:
            items = self._query(home)
            keys = [layout.key(home, item["sk"]) for item in items if item["sk"] != layout.CATALOG_VERSION_SK]
            for start in range(0, len(keys), BATCH_ITEMS):
                self._batch([{"DeleteRequest": {"Key": key}} for key in keys[start : start + BATCH_ITEMS]])
        except dynamo.DynamoError as error:
            logger().warning(
                "catalog items no stamp names are left", extra={"home": home, "what": what, "code": error.code}
            )

    def _query(self, home: str) -> list[dict[str, Any]]:
        items = self.db.query_all(
            TableName=self.table,
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": {"S": home}},
            ConsistentRead=True,
        )
        return [dynamo.from_item(item) for item in items]


def _spec(item: dict[str, Any]) -> Spec:
    return Spec(item["kind"], item.get("name", ""), json.loads(item["spec"]), int(item.get("position", 0)))


def _size(spec: Spec) -> int:
    return len(json.dumps(spec.spec, separators=(",", ":"))) + len(spec.sk) + 100  # its names, kind, dates
