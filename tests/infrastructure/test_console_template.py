"""The console as template.yaml deploys it: a user pool that signs in by e-mail confirmed by a code
(self sign-up a parameter), a public app client for the page's flows, the operators group, and a
function that knows all three, may touch only the gateway table's items it needs, and nothing else."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import pytest

from devtools.template import load_template, resources
from gateway.config import Settings
from tests.infrastructure.test_iam_policies import _statements
from tests.infrastructure.tooling import properties


def only(kind: str) -> tuple[str, dict[str, Any]]:
    (found,) = resources(kind).items()
    return found[0], dict(found[1]["Properties"])


def test_the_user_pool_signs_in_by_email_confirmed_by_a_code() -> None:
    _, pool = only("AWS::Cognito::UserPool")

    assert pool["UsernameAttributes"] == ["email"]
    assert pool["AutoVerifiedAttributes"] == ["email"]
    assert pool["VerificationMessageTemplate"]["DefaultEmailOption"] == "CONFIRM_WITH_CODE"
    assert pool["UsernameConfiguration"] == {"CaseSensitive": False}
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] >= 10
    assert resources("AWS::Cognito::UserPool")["ConsoleUserPool"]["DeletionPolicy"] == "Retain"


def test_self_sign_up_is_the_console_self_sign_up_parameter() -> None:
    template = load_template()
    _, pool = only("AWS::Cognito::UserPool")

    assert template["Parameters"]["ConsoleSelfSignUp"]["AllowedValues"] == ["true", "false"]
    assert template["Conditions"]["AllowSelfSignUp"] == {"Equals": [{"Ref": "ConsoleSelfSignUp"}, "true"]}
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] == {"If": ["AllowSelfSignUp", False, True]}
    env = properties("ConsoleFunction")["Environment"]["Variables"]
    assert env["CONSOLE_SELF_SIGN_UP"] == {"Ref": "ConsoleSelfSignUp"}  # the page offers sign-up only then


def test_the_app_client_is_public_and_allows_only_the_pages_flows() -> None:
    _, client = only("AWS::Cognito::UserPoolClient")

    assert client["UserPoolId"] == {"Ref": "ConsoleUserPool"}
    assert client["GenerateSecret"] is False  # a browser cannot keep a secret
    assert sorted(client["ExplicitAuthFlows"]) == ["ALLOW_REFRESH_TOKEN_AUTH", "ALLOW_USER_PASSWORD_AUTH"]
    assert client["PreventUserExistenceErrors"] == "ENABLED"
    assert client["EnableTokenRevocation"] is True
    assert client["IdTokenValidity"] <= 60
    assert client["TokenValidityUnits"]["IdToken"] == "minutes"


def test_the_function_knows_the_pool_its_client_and_the_operators_group() -> None:
    group_id, group = only("AWS::Cognito::UserPoolGroup")
    env = properties("ConsoleFunction")["Environment"]["Variables"]

    assert group["UserPoolId"] == {"Ref": "ConsoleUserPool"}
    assert env["COGNITO_USER_POOL_ID"] == {"Ref": "ConsoleUserPool"}
    assert env["COGNITO_CLIENT_ID"] == {"Ref": "ConsoleUserPoolClient"}
    assert env["CONSOLE_OPERATOR_GROUP"] == {"Ref": group_id}  # a group's Ref is its name
    assert env["CONSOLE_STARTING_CREDITS"] == {"Ref": "StartingCredits"}
    assert group["GroupName"] == Settings.model_fields["console_operator_group"].default


@pytest.mark.parametrize("value", ["0", "25", "0.5", "999999999999", "12.345678"])
def test_starting_credits_the_template_accepts_are_what_the_function_accepts(value: str) -> None:
    parameter = load_template()["Parameters"]["StartingCredits"]

    assert parameter["Default"] == "0"
    assert re.fullmatch(parameter["AllowedPattern"], value)
    assert Settings.model_validate({"CONSOLE_STARTING_CREDITS": value}).console_starting_credits == value
    assert Decimal(value) >= 0


@pytest.mark.parametrize("value", ["-1", "1e3", "0.1234567", "", "ten"])
def test_starting_credits_either_refuses_are_refused_by_both(value: str) -> None:
    from pydantic import ValidationError

    pattern = load_template()["Parameters"]["StartingCredits"]["AllowedPattern"]

    assert not re.fullmatch(pattern, value)
    with pytest.raises(ValidationError):
        Settings.model_validate({"CONSOLE_STARTING_CREDITS": value})


def test_the_console_function_reads_and_writes_only_what_it_needs() -> None:
    """Items of the gateway table (no delete, no scan: a console session never removes anything and
    never reads the whole table; batches for the codes a minting writes past its first transaction),
    its three indexes, the channel keys operators enter (written, never read), and an operator's
    standing in its own user pool (read); no model, no other service."""
    statements = list(_statements(properties("ConsoleFunction")["Policies"]))
    actions = {action for statement in statements for action in statement["Action"]}

    assert actions == {
        "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:BatchWriteItem",
        "secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:DescribeSecret",
        "cognito-idp:AdminGetUser", "cognito-idp:AdminListGroupsForUser",
    }  # fmt: skip
    index_resources = [r for s in statements for r in s["Resource"] if isinstance(s["Resource"], list)]
    assert {str(r["Sub"]).rsplit("/", 1)[-1] for r in index_resources} == {"GSI1", "GSI2", "GSI3"}
    (secrets,) = [s for s in statements if s["Action"][0].startswith("secretsmanager:")]
    assert secrets["Resource"]["Sub"].endswith(":secret:ai-gateway/${Stage}/channels/*")
    (pool,) = [s for s in statements if s["Action"][0].startswith("cognito-idp:")]
    assert pool["Resource"] == {"GetAtt": "ConsoleUserPool.Arn"}


def test_the_stack_says_where_the_console_is() -> None:
    outputs = load_template()["Outputs"]

    assert outputs["ConsoleUrl"]["Value"]["Sub"].endswith("/${Stage}/console")
    assert outputs["UserPoolId"]["Value"] == {"Ref": "ConsoleUserPool"}
    assert outputs["UserPoolClientId"]["Value"] == {"Ref": "ConsoleUserPoolClient"}
