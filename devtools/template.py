"""Reads template.yaml: the DynamoDB tables to create locally and the API routes it declares."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags (!Ref, !Sub, ...) kept as {"Fn": value} mappings."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {suffix: value}


_CfnLoader.add_multi_constructor("!", _tag)


@lru_cache(maxsize=2)
def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    assert isinstance(document, dict)
    return document


def resources(kind: str, path: Path = TEMPLATE) -> dict[str, dict[str, Any]]:
    return {name: body for name, body in load_template(path)["Resources"].items() if body.get("Type") == kind}


def table_definitions(path: Path = TEMPLATE) -> dict[str, dict[str, Any]]:
    """CreateTable arguments for each AWS::DynamoDB::Table (without TableName), plus its TTL attribute."""
    tables = {}
    for name, body in resources("AWS::DynamoDB::Table", path).items():
        props = body["Properties"]
        create: dict[str, Any] = {
            "AttributeDefinitions": props["AttributeDefinitions"],
            "KeySchema": props["KeySchema"],
            "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
        }
        if props.get("GlobalSecondaryIndexes"):
            create["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
        if props.get("StreamSpecification"):
            create["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        ttl = props.get("TimeToLiveSpecification") or {}
        tables[name] = {"create": create, "ttl_attribute": ttl.get("AttributeName") if ttl.get("Enabled") else None}
    return tables


def create_tables(client: Any, names: dict[str, str], path: Path = TEMPLATE) -> None:
    """Create each template table under the given name (logical id -> table name) unless it exists."""
    existing = set(client.list_tables().get("TableNames", []))
    for logical_id, definition in table_definitions(path).items():
        table_name = names[logical_id]
        stream = definition["create"].get("StreamSpecification")
        if table_name in existing:
            described = client.describe_table(TableName=table_name)["Table"]
            if stream and not described.get("StreamSpecification", {}).get("StreamEnabled"):
                client.update_table(TableName=table_name, StreamSpecification=stream)  # a table from before streams
            continue
        client.create_table(TableName=table_name, **definition["create"])
        client.get_waiter("table_exists").wait(TableName=table_name)
        if definition["ttl_attribute"]:
            client.update_time_to_live(
                TableName=table_name,
                TimeToLiveSpecification={"AttributeName": definition["ttl_attribute"], "Enabled": True},
            )


@dataclass(frozen=True)
class Route:
    function: str  # logical id
    method: str  # upper case
    path: str  # API Gateway form: /v1/models/{model+}
    streaming: bool
    api: str = "GatewayApi"  # the RestApiId it is on (logical id)


def api_routes(path: Path = TEMPLATE) -> list[Route]:
    routes = []
    for name, body in resources("AWS::Serverless::Function", path).items():
        for event in (body.get("Properties", {}).get("Events") or {}).values():
            if event.get("Type") != "Api":
                continue
            props = event["Properties"]
            routes.append(
                Route(
                    function=name,
                    method=props["Method"].upper(),
                    path=props["Path"],
                    streaming=props.get("ResponseTransferMode") == "RESPONSE_STREAM",
                    api=str((props.get("RestApiId") or {}).get("Ref", "")),
                )
            )
    return routes


def code_uri(function: str, path: Path = TEMPLATE) -> Path:
    body = resources("AWS::Serverless::Function", path)[function]
    return ROOT / str(body["Properties"]["CodeUri"]).rstrip("/")


def normalise_path(path: str) -> str:
    """/v1/models/{model_id:path} and /v1/models/{model+} both become /v1/models/{*}; so does
    /v1/models/{model:path}:countTokens (a greedy {model+} takes the method too)."""
    path = re.sub(r"\{[^}]+(\+|:path)\}[^/]*$", "{*}", path)
    path = re.sub(r"\{[^}]+(\+|:path)\}", "{*}", path)
    return re.sub(r"\{[^}*]+\}", "{}", path)


def function_environment(function: str, parameters: dict[str, str]) -> dict[str, str]:
    """A function's environment as CloudFormation would set it (Globals merged) for the given parameter
    values (`AWS::Region` among them); a resource's Ref stands for its logical id."""
    template = load_template()
    values = {**{name: str(body.get("Default", "")) for name, body in template["Parameters"].items()}, **parameters}
    conditions: dict[str, bool] = {}

    def resolve(value: Any) -> Any:
        if not (isinstance(value, dict) and len(value) == 1):
            return value
        ((function_name, argument),) = value.items()
        if function_name == "Ref":
            return values.get(argument, argument)
        if function_name == "Sub":
            return re.sub(r"\$\{([^}]+)\}", lambda found: str(values.get(found.group(1), found.group(1))), argument)
        if function_name == "If":
            condition, when_true, when_false = argument
            return resolve(when_true if condition_holds(condition) else when_false)
        if function_name == "Equals":
            return resolve(argument[0]) == resolve(argument[1])
        if function_name == "Not":
            return not resolve(argument[0])
        if function_name == "Condition":
            return condition_holds(argument)
        raise NotImplementedError(function_name)

    def condition_holds(name: str) -> bool:
        if name not in conditions:
            conditions[name] = bool(resolve(template["Conditions"][name]))
        return conditions[name]

    variables = {
        **template["Globals"]["Function"].get("Environment", {}).get("Variables", {}),
        **(template["Resources"][function]["Properties"].get("Environment") or {}).get("Variables", {}),
    }
    return {name: str(resolve(value)) for name, value in variables.items()}
