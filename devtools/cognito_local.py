"""The console's Cognito user pool on moto's server (loopback), made from template.yaml's own
definition: the same sign-in attribute, verification, password policy, app client flows and
operators group as `sam deploy` creates."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from devtools.template import resources

REGION = "us-east-1"  # moto's server answers unsigned Cognito calls (the browser's) in us-east-1
POOL_SETTINGS = ("UsernameAttributes", "AutoVerifiedAttributes", "VerificationMessageTemplate", "UsernameConfiguration")
CLIENT_SETTINGS = ("ExplicitAuthFlows", "GenerateSecret", "PreventUserExistenceErrors", "EnableTokenRevocation")


@dataclass(frozen=True)
class LocalPool:
    endpoint: str
    user_pool_id: str
    client_id: str
    operator_group: str

    def environment(self, *, self_sign_up: bool = True, starting_credits: str = "0") -> dict[str, str]:
        """What the console function reads, pointed at this pool."""
        return {
            "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": self.endpoint,
            "COGNITO_USER_POOL_ID": self.user_pool_id,
            "COGNITO_CLIENT_ID": self.client_id,
            "CONSOLE_SELF_SIGN_UP": "true" if self_sign_up else "false",
            "CONSOLE_STARTING_CREDITS": starting_credits,
            "CONSOLE_OPERATOR_GROUP": self.operator_group,
        }

    def client(self) -> Any:
        import boto3

        return boto3.client(
            "cognito-idp",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - moto's stand-in
        )

    def add_operator(self, email: str) -> str:
        """A confirmed user in the operators group; returns its password (for this run only)."""
        password = f"Op-{secrets.token_urlsafe(12)}1a"
        cognito = self.client()
        cognito.admin_create_user(
            UserPoolId=self.user_pool_id,
            Username=email,
            UserAttributes=[{"Name": "email", "Value": email}, {"Name": "email_verified", "Value": "true"}],
            MessageAction="SUPPRESS",
        )
        cognito.admin_set_user_password(UserPoolId=self.user_pool_id, Username=email, Password=password, Permanent=True)
        cognito.admin_add_user_to_group(UserPoolId=self.user_pool_id, Username=email, GroupName=self.operator_group)
        return password


def template_properties(kind: str) -> dict[str, Any]:
    (found,) = resources(kind).values()
    return dict(found["Properties"])


def create_pool(endpoint: str) -> LocalPool:
    """A user pool, its console app client and operators group, as template.yaml declares them."""
    pool_props = template_properties("AWS::Cognito::UserPool")
    client_props = template_properties("AWS::Cognito::UserPoolClient")
    group_props = template_properties("AWS::Cognito::UserPoolGroup")
    policy = pool_props["Policies"]["PasswordPolicy"]
    cognito = LocalPool(endpoint, "", "", "").client()
    pool = cognito.create_user_pool(
        PoolName=f"ai-gateway-local-{secrets.token_hex(3)}",
        Policies={"PasswordPolicy": policy},
        **{name: pool_props[name] for name in POOL_SETTINGS if name in pool_props},
    )["UserPool"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool["Id"],
        ClientName=str(client_props["ClientName"]),
        **{name: client_props[name] for name in CLIENT_SETTINGS if name in client_props},
    )["UserPoolClient"]
    group = str(group_props["GroupName"])
    cognito.create_group(GroupName=group, UserPoolId=pool["Id"])
    return LocalPool(endpoint, pool["Id"], client["ClientId"], group)
