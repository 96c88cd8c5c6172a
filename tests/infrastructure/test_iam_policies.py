"""Each function's role may do only what it needs: no wildcards, no full-access managed policies."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.infrastructure.tooling import functions

BROAD_MANAGED_POLICIES = ("FullAccess", "AdministratorAccess", "PowerUserAccess")


def _statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every IAM statement inside a Policies list, including both branches of !If."""
    if isinstance(node, dict):
        if "Effect" in node and ("Action" in node or "NotAction" in node):
            yield node
        for value in node.values():
            yield from _statements(value)
    elif isinstance(node, list):
        for item in node:
            yield from _statements(item)


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _named_policies(policies: list[Any]) -> list[str]:
    """Managed policies (by name or ARN) and SAM policy templates ({"DynamoDBCrudPolicy": ...})."""
    names = []
    for policy in policies:
        if isinstance(policy, str):
            names.append(policy)
        elif isinstance(policy, dict) and "Statement" not in policy and "If" not in policy:
            names.extend(str(key) for key in policy)
    return names


FUNCTION_IDS = sorted(functions())


@pytest.mark.parametrize("function", FUNCTION_IDS)
def test_every_function_declares_its_own_policies(function: str) -> None:
    """Given SAM gives a function without Policies only basic execution rights
    When a function needs the table (all do)
    Then it declares Policies, so its permissions are visible in the template and reviewable."""
    policies = functions()[function]["Properties"].get("Policies")

    assert policies, f"{function} has no Policies"
    assert list(_statements(policies)), f"{function} has no inline statement"


@pytest.mark.parametrize("function", FUNCTION_IDS)
def test_no_wildcard_actions(function: str) -> None:
    """Given least privilege
    When a function's statements are read (both branches of conditions included)
    Then no action is "*", "dynamodb:*" or any other service-wide wildcard, and none uses NotAction."""
    policies = functions()[function]["Properties"].get("Policies") or []

    for statement in _statements(policies):
        assert "NotAction" not in statement, f"{function}: NotAction grants everything else"
        for action in _as_list(statement["Action"]):
            assert isinstance(action, str)
            assert action != "*", f"{function}: Action '*'"
            assert not action.lower().startswith("dynamodb:*"), f"{function}: {action}"
            assert not action.endswith(":*"), f"{function}: service-wide wildcard {action}"


@pytest.mark.parametrize("function", FUNCTION_IDS)
def test_no_broad_managed_policies(function: str) -> None:
    """Given least privilege
    When a function's Policies name managed policies or SAM policy templates
    Then none is a full-access or administrator policy (e.g. AmazonDynamoDBFullAccess)."""
    policies = functions()[function]["Properties"].get("Policies") or []

    for name in _named_policies(_as_list(policies)):
        assert not any(broad in name for broad in BROAD_MANAGED_POLICIES), f"{function}: {name}"


@pytest.mark.parametrize("function", FUNCTION_IDS)
def test_dynamodb_permissions_are_scoped_to_the_gateway_table(function: str) -> None:
    """Given the account may hold other tables
    When a function is allowed DynamoDB actions
    Then the resource is the gateway table or its indexes, never "*"."""
    policies = functions()[function]["Properties"].get("Policies") or []

    for statement in _statements(policies):
        if not any(str(action).startswith("dynamodb:") for action in _as_list(statement["Action"])):
            continue
        for resource in _as_list(statement.get("Resource")):
            assert resource != "*", f"{function}: DynamoDB actions on every table"
            assert "GatewayTable" in str(resource), f"{function}: DynamoDB resource {resource}"
