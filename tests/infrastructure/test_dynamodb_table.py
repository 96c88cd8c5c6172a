"""The two DynamoDB tables (the gateway's data and Powertools' Idempotency-Key records): how they are
billed and protected in AWS, and that local runs create them from template.yaml itself (never a
second copy of the key schema)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from devtools.template import ROOT, TEMPLATE, create_tables, resources, table_definitions
from gateway.storage import layout

TABLE = "GatewayTable"
IDEMPOTENCY_TABLE = "IdempotencyTable"
TABLES = (TABLE, IDEMPOTENCY_TABLE)


def _template_table(logical_id: str = TABLE) -> dict[str, Any]:
    """A table's Properties as the SAM translator reads template.yaml (independent of devtools)."""
    from samtranslator.yaml_helper import yaml_parse

    document = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
    return dict(document["Resources"][logical_id]["Properties"])


def _by_name(attributes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(attributes, key=lambda attribute: attribute["AttributeName"])


def test_the_template_has_exactly_the_gateway_and_idempotency_tables() -> None:
    """Given the single-table design for the gateway's data, plus the table Powertools keeps
    Idempotency-Key records in
    When template.yaml is read
    Then it declares exactly those two DynamoDB tables: GatewayTable (GATEWAY_TABLE) and
    IdempotencyTable (IDEMPOTENCY_TABLE)."""
    assert sorted(resources("AWS::DynamoDB::Table")) == sorted(TABLES)


def test_table_bills_on_demand_expires_traces_and_can_be_restored() -> None:
    """Given the table holds balances and the ledger
    When it is deployed
    Then it is PAY_PER_REQUEST (no capacity to plan), TTL deletes expired items, point-in-time
    recovery is on, and the data survives a stack deletion or replacement."""
    body = resources("AWS::DynamoDB::Table")[TABLE]
    props = body["Properties"]

    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in props
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert body.get("DeletionPolicy") == "RetainExceptOnCreate"  # kept, unless the deploy creating it rolled back
    assert body.get("UpdateReplacePolicy") == "Retain"


def test_idempotency_table_is_the_one_powertools_expects_and_expires_its_records() -> None:
    """Given Powertools' DynamoDBPersistenceLayer is used with its default attribute names
    When the idempotency table is deployed
    Then it is PAY_PER_REQUEST and encrypted, its only key is the `id` partition key (no sort key),
    and TTL deletes records on the `expiration` attribute Powertools writes."""
    import inspect

    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    defaults = inspect.signature(DynamoDBPersistenceLayer.__init__).parameters
    props = resources("AWS::DynamoDB::Table")[IDEMPOTENCY_TABLE]["Properties"]

    assert defaults["key_attr"].default == "id"
    assert defaults["sort_key_attr"].default is None
    assert defaults["expiry_attr"].default == "expiration"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in props
    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert not props.get("GlobalSecondaryIndexes")
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True


def test_local_table_definitions_are_the_template_ones() -> None:
    """Given devtools creates tables for the dev server and tests
    When it reads template.yaml
    Then it defines both tables, and each one's CreateTable arguments are exactly the template's key
    schema, attributes, indexes, billing mode and TTL attribute."""
    definitions = table_definitions()

    assert sorted(definitions) == sorted(TABLES)
    for logical_id in TABLES:
        template = _template_table(logical_id)
        create = definitions[logical_id]["create"]
        assert create["KeySchema"] == template["KeySchema"], logical_id
        assert create["AttributeDefinitions"] == template["AttributeDefinitions"], logical_id
        assert create.get("GlobalSecondaryIndexes") == template.get("GlobalSecondaryIndexes"), logical_id
        assert create["BillingMode"] == template["BillingMode"], logical_id
        ttl_attribute = template["TimeToLiveSpecification"]["AttributeName"]
        assert definitions[logical_id]["ttl_attribute"] == ttl_attribute, logical_id


def test_the_index_the_code_queries_exists_in_the_template() -> None:
    """Given the storage layer queries the index named in gateway.storage.layout
    When the table is deployed from template.yaml
    Then an index of that name exists, keyed on the gsi1pk/gsi1sk attributes the layout writes."""
    indexes = {index["IndexName"]: index for index in _template_table()["GlobalSecondaryIndexes"]}

    assert layout.GSI1 in indexes
    key_names = [key["AttributeName"] for key in indexes[layout.GSI1]["KeySchema"]]
    assert key_names == list(layout.reservation_index("ab" * 16, 1).keys())


def test_the_active_accounts_index_projects_keys_only() -> None:
    """Given the settle transaction updates a day's usage aggregate on every request
    When that aggregate also lists its account in the audit's index of active accounts (GSI3)
    Then the index is keyed on the attributes the layout writes and projects keys only, so an update
    that changes neither key writes nothing to it (no extra write per request)."""
    indexes = {index["IndexName"]: index for index in _template_table()["GlobalSecondaryIndexes"]}

    assert layout.GSI3 in indexes
    key_names = [key["AttributeName"] for key in indexes[layout.GSI3]["KeySchema"]]
    assert key_names == list(layout.active_index("acct_1", "2026-11-22").keys())
    assert indexes[layout.GSI3]["Projection"] == {"ProjectionType": "KEYS_ONLY"}


def _python_sources() -> Iterator[Path]:
    here = Path(__file__).resolve().parent
    for folder in ("devtools", "functions", "layers", "tests"):
        for path in (ROOT / folder).rglob("*.py"):
            if here not in path.resolve().parents and path.name != "template.py":
                yield path


def test_no_second_copy_of_the_table_layout() -> None:
    """Given tables must be created from template.yaml, never a second copy
    When the Python sources are searched for a hand-written key schema
    Then none is found outside devtools/template.py (a copy drifts from what is deployed)."""
    copies = [
        str(path.relative_to(ROOT))
        for path in _python_sources()
        if "AttributeDefinitions" in path.read_text(encoding="utf-8", errors="replace")
    ]

    assert copies == [], f"hand-written table definitions (use devtools.template.create_tables): {copies}"


@pytest.fixture(scope="module")
def infra_dynamodb() -> Iterator[Any]:
    """A DynamoDB Local of this module's own, in memory, and a boto3 client for it."""
    from devtools.dynamodb_local import DynamoDBLocal, free_port

    database = DynamoDBLocal(free_port()).start()
    try:
        yield boto3.client(
            "dynamodb",
            endpoint_url=database.endpoint,
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
    finally:
        database.stop()


def _local_names() -> dict[str, str]:
    """A fresh DynamoDB Local name for each template table (logical id -> table name)."""
    run = uuid.uuid4().hex[:8]
    return {logical_id: f"infra-{run}-{logical_id}" for logical_id in TABLES}


def test_create_tables_builds_the_template_tables_in_dynamodb_local(infra_dynamodb: Any) -> None:
    """Given an empty DynamoDB Local
    When create_tables() creates the template's tables under local names
    Then DynamoDB describes, for each, the template's key schema, attributes, GSIs and on-demand
    billing, and TTL is enabled on the template's attribute (`ttl`, `expiration`)."""
    client = infra_dynamodb
    names = _local_names()

    create_tables(client, names)

    for logical_id, name in names.items():
        template = _template_table(logical_id)
        table = client.describe_table(TableName=name)["Table"]
        assert table["TableStatus"] == "ACTIVE", logical_id
        assert table["KeySchema"] == template["KeySchema"], logical_id
        assert _by_name(table["AttributeDefinitions"]) == _by_name(template["AttributeDefinitions"]), logical_id
        indexes = {index["IndexName"]: index for index in table.get("GlobalSecondaryIndexes", [])}
        expected_indexes = template.get("GlobalSecondaryIndexes") or []
        assert sorted(indexes) == sorted(index["IndexName"] for index in expected_indexes), logical_id
        for expected in expected_indexes:
            assert indexes[expected["IndexName"]]["KeySchema"] == expected["KeySchema"], logical_id
            assert indexes[expected["IndexName"]]["Projection"] == expected["Projection"], logical_id
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST", logical_id
        ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl["TimeToLiveStatus"] == "ENABLED", logical_id
        assert ttl["AttributeName"] == template["TimeToLiveSpecification"]["AttributeName"], logical_id


def test_create_tables_leaves_existing_tables_and_their_data_alone(infra_dynamodb: Any) -> None:
    """Given `make dev` restarts on a persisted DynamoDB Local whose tables hold data
    When create_tables() runs again
    Then it neither fails nor recreates either table: the data is still in both."""
    client = infra_dynamodb
    names = _local_names()
    gateway_key = {"pk": {"S": "ACCOUNT#demo"}, "sk": {"S": "ACCOUNT"}}
    idempotency_key = {"id": {"S": "keys.create#demo"}}
    create_tables(client, names)
    client.put_item(TableName=names[TABLE], Item=gateway_key)
    client.put_item(TableName=names[IDEMPOTENCY_TABLE], Item={**idempotency_key, "status": {"S": "COMPLETED"}})

    create_tables(client, names)

    assert "Item" in client.get_item(TableName=names[TABLE], Key=gateway_key)
    assert "Item" in client.get_item(TableName=names[IDEMPOTENCY_TABLE], Key=idempotency_key)
