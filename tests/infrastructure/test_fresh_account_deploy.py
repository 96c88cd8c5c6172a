"""What a first `sam deploy` into an AWS account (or a second stack beside the first) runs into:
names that are unique beyond the stack, and data resources a rolled-back first deploy leaves behind."""

from __future__ import annotations

import re
from typing import Any

import pytest

from devtools.template import ROOT, load_template


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


def test_a_guided_first_deploy_asks_about_no_route(monkeypatch: pytest.MonkeyPatch) -> None:
    """Given `sam deploy --guided` asks "<Function> has no authentication. Is this okay? [y/N]" for
    every Api event of a function whose Api declares no Auth (samcli's auth_per_resource), and its
    default answer stops the deploy ("Security Constraints Not Satisfied!")
    When the README's first deploy runs it on this template (123 routes)
    Then no route prompts: each Api says it has no API Gateway authorizer on purpose (the gateway
    authenticates every route in its own code)."""
    from samcli.commands.deploy.auth_utils import auth_per_resource
    from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    stacks, _ = SamLocalStackProvider.get_stacks(str(ROOT / "template.yaml"))
    routes = auth_per_resource(stacks)

    assert len(routes) > 100
    assert [name for name, authenticated in routes if not authenticated] == []


@pytest.mark.parametrize(
    ("value", "accepted"),
    [
        ("", True),
        ("arn:aws:secretsmanager:eu-west-1:123456789012:secret:ai-gateway/providers-AbCdEf", True),
        ("arn:aws-cn:secretsmanager:cn-north-1:123456789012:secret:providers-AbCdEf", True),
        ("ai-gateway/providers", False),
        ("arn:aws:s3:::a-bucket", False),
    ],
)
def test_a_provider_secret_given_by_name_is_refused_before_the_stack_is_touched(value: str, accepted: bool) -> None:
    """Given ProviderSecretArn is the Resource of IAM policy statements, where a secret's name (what
    `aws secretsmanager create-secret --name` printed first) is no ARN and fails the role
    When a first deploy is given one
    Then CloudFormation refuses the parameter (AllowedPattern, matched whole) before creating anything."""
    parameter = load_template()["Parameters"]["ProviderSecretArn"]

    assert (re.fullmatch(parameter["AllowedPattern"], value) is not None) is accepted


def test_the_aggregator_retries_a_batch_from_its_first_record() -> None:
    """Given the aggregator adds a batch once by the checkpoint its first record names (a redelivered
    batch finds it and adds nothing), Then its stream mapping neither bisects a failed batch nor
    reports partial failures: either would retry from another first record and count twice."""
    events = _resource("AggregatorFunction")["Properties"]["Events"]
    (stream,) = [event["Properties"] for event in events.values() if event["Type"] == "DynamoDB"]
    assert not stream.get("BisectBatchOnFunctionError")
    assert "ReportBatchItemFailures" not in (stream.get("FunctionResponseTypes") or [])
