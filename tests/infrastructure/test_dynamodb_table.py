"""The single DynamoDB table: how it is billed and protected in AWS, and that local runs create it
from template.yaml itself (never a second copy of the key schema)."""

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


def _template_table() -> dict[str, Any]:
    """The table's Properties as the SAM translator reads template.yaml (independent of devtools)."""
    from samtranslator.yaml_helper import yaml_parse

    document = yaml_parse(TEMPLATE.read_text(encoding="utf-8"))
    return dict(document["Resources"][TABLE]["Properties"])


def test_the_template_has_exactly_one_table() -> None:
    """Given the single-table design
    When template.yaml is read
    Then it declares one DynamoDB table, the one every function is given as GATEWAY_TABLE."""
    assert list(resources("AWS::DynamoDB::Table")) == [TABLE]


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
    assert body.get("DeletionPolicy") == "Retain"
    assert body.get("UpdateReplacePolicy") == "Retain"


def test_local_table_definitions_are_the_template_ones() -> None:
    """Given devtools creates tables for the dev server and tests
    When it reads template.yaml
    Then its CreateTable arguments are exactly the template's key schema, attributes and indexes."""
    template = _template_table()
    definitions = table_definitions()

    assert list(definitions) == [TABLE]
    create = definitions[TABLE]["create"]
    assert create["KeySchema"] == template["KeySchema"]
    assert create["AttributeDefinitions"] == template["AttributeDefinitions"]
    assert create["GlobalSecondaryIndexes"] == template["GlobalSecondaryIndexes"]
    assert create["BillingMode"] == template["BillingMode"]
    assert definitions[TABLE]["ttl_attribute"] == template["TimeToLiveSpecification"]["AttributeName"]


def test_the_index_the_code_queries_exists_in_the_template() -> None:
    """Given the storage layer queries the index named in gateway.storage.layout
    When the table is deployed from template.yaml
    Then an index of that name exists, keyed on the gsi1pk/gsi1sk attributes the layout writes."""
    indexes = {index["IndexName"]: index for index in _template_table()["GlobalSecondaryIndexes"]}

    assert layout.GSI1 in indexes
    key_names = [key["AttributeName"] for key in indexes[layout.GSI1]["KeySchema"]]
    assert key_names == list(layout.reservation_index("ab" * 16, 1).keys())


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


def test_create_tables_builds_the_template_table_in_dynamodb_local(infra_dynamodb: Any) -> None:
    """Given an empty DynamoDB Local
    When create_tables() creates the template's table under a local name
    Then DynamoDB describes the template's key schema, GSI and on-demand billing, and TTL is enabled."""
    client = infra_dynamodb
    name = f"infra-{uuid.uuid4().hex[:8]}"
    template = _template_table()

    create_tables(client, {TABLE: name})

    table = client.describe_table(TableName=name)["Table"]
    assert table["TableStatus"] == "ACTIVE"
    assert table["KeySchema"] == template["KeySchema"]
    assert sorted(table["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == sorted(
        template["AttributeDefinitions"], key=lambda a: a["AttributeName"]
    )
    indexes = {index["IndexName"]: index for index in table["GlobalSecondaryIndexes"]}
    for expected in template["GlobalSecondaryIndexes"]:
        assert expected["IndexName"] in indexes
        assert indexes[expected["IndexName"]]["KeySchema"] == expected["KeySchema"]
        assert indexes[expected["IndexName"]]["Projection"] == expected["Projection"]
    assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "ENABLED"
    assert ttl["AttributeName"] == template["TimeToLiveSpecification"]["AttributeName"]


def test_create_tables_leaves_an_existing_table_and_its_data_alone(infra_dynamodb: Any) -> None:
    """Given `make dev` restarts on a persisted DynamoDB Local whose table holds data
    When create_tables() runs again
    Then it neither fails nor recreates the table: the data is still there."""
    client = infra_dynamodb
    name = f"infra-{uuid.uuid4().hex[:8]}"
    create_tables(client, {TABLE: name})
    client.put_item(TableName=name, Item={"pk": {"S": "ACCOUNT#demo"}, "sk": {"S": "ACCOUNT"}})

    create_tables(client, {TABLE: name})

    item = client.get_item(TableName=name, Key={"pk": {"S": "ACCOUNT#demo"}, "sk": {"S": "ACCOUNT"}})
    assert "Item" in item
