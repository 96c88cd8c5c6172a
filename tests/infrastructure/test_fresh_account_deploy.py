"""What a first `sam deploy` into an AWS account (or a second stack beside the first) runs into:
names that are unique beyond the stack, and data resources a rolled-back first deploy leaves behind."""

from __future__ import annotations

from typing import Any

import pytest

from devtools.template import load_template


def _resource(logical_id: str) -> dict[str, Any]:
    return dict(load_template()["Resources"][logical_id])


def _sub_text(value: Any) -> str:
    """The text of a name given as a plain string or as !Sub "..." / !Sub ["...", {...}]."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Sub" in value:
        sub = value["Sub"]
        return sub if isinstance(sub, str) else str(sub[0])
    return str(value)


def test_the_dashboard_name_is_unique_to_its_stack_not_just_to_its_stage() -> None:
    """Given CloudWatch dashboards are account-wide ("All dashboards in your account are global, not
    region-specific": AWS::CloudWatch::Dashboard) and DashboardName is the resource's primary
    identifier, whose create handler fails with AlreadyExists when it is taken
    When the same stage is deployed in a second region (`sam deploy --region ...` with samconfig's
    Stage=dev), or as a second stack in the same region
    Then the dashboard's name must not be ai-gateway-<Stage> alone: it names the region or the stack
    (or is left to CloudFormation to generate), else that second stack fails to create it."""
    name = _resource("OperationsDashboard")["Properties"].get("DashboardName")
    if name is None:
        return  # CloudFormation generates a unique one
    text = _sub_text(name)

    assert "${AWS::StackName}" in text or "${AWS::Region}" in text, (
        f"DashboardName {text!r} is the same for every stack of a stage in the account (dashboards are global)"
    )


RETAINED_DATA = ("GatewayTable", "ProviderKeysKey")


@pytest.mark.parametrize("logical_id", RETAINED_DATA)
def test_retained_data_is_removed_when_the_deploy_that_created_it_rolls_back(logical_id: str) -> None:
    """Given DeletionPolicy: Retain keeps a resource even when the stack operation that created it
    rolls back, and each retry of a failed first deploy creates a new one (no explicit names)
    When a first `sam deploy` fails anywhere (and rolls back)
    Then the ledger table and the BYOK KMS key, empty and unused, are not left behind: their policy is
    RetainExceptOnCreate ("If the stack operation that created the resource is rolled back,
    CloudFormation deletes the resource. For all other stack operations ... behaves like Retain"),
    which still keeps them on stack deletion and on replacement (UpdateReplacePolicy stays Retain)."""
    body = _resource(logical_id)

    assert body.get("UpdateReplacePolicy") == "Retain", f"{logical_id}: a replacement must keep the old one"
    assert body.get("DeletionPolicy") == "RetainExceptOnCreate", (
        f"{logical_id}: DeletionPolicy {body.get('DeletionPolicy')!r} leaves an orphan after every failed first deploy"
    )
