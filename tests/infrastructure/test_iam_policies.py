"""Each function's role may do only what it needs: no wildcards, no full-access managed policies."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from devtools.template import load_template
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


STACK_TABLES = ("GatewayTable", "IdempotencyTable")
IDEMPOTENCY_TABLE = "IdempotencyTable"
IDEMPOTENCY_FUNCTIONS = ("KeysFunction",)  # the one that serves Idempotency-Key (key creation, top-ups)


def _referenced_logical_ids(resource: Any) -> set[str]:
    """Logical ids a Resource refers to: !Ref X, !GetAtt X.Arn, !Sub "${X.Arn}/index/..."."""
    if isinstance(resource, dict):
        ids: set[str] = set()
        for function, value in resource.items():
            if function == "Ref" and isinstance(value, str):
                ids.add(value)
            elif function == "GetAtt":
                ids.add((value if isinstance(value, str) else value[0]).split(".")[0])
            elif function == "Sub":
                text = value if isinstance(value, str) else value[0]
                ids.update(re.findall(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9]+)?\}", text))
            else:
                ids.update(_referenced_logical_ids(value))
        return ids
    if isinstance(resource, list):
        return set().union(*(_referenced_logical_ids(item) for item in resource))
    return set()


def _dynamodb_resources(function: str) -> list[Any]:
    """The Resource entries of every statement of a function that allows DynamoDB actions."""
    policies = functions()[function]["Properties"].get("Policies") or []
    found = []
    for statement in _statements(policies):
        if any(str(action).startswith("dynamodb:") for action in _as_list(statement["Action"])):
            found.extend(_as_list(statement.get("Resource")))
    return found


@pytest.mark.parametrize("function", FUNCTION_IDS)
def test_dynamodb_permissions_are_scoped_to_the_stacks_tables(function: str) -> None:
    """Given the account may hold other tables
    When a function is allowed DynamoDB actions
    Then each resource is one of the stack's own tables (GatewayTable or IdempotencyTable) or its
    indexes, never "*" nor a hard-coded ARN."""
    for resource in _dynamodb_resources(function):
        assert resource != "*", f"{function}: DynamoDB actions on every table"
        assert not isinstance(resource, str), f"{function}: hard-coded DynamoDB resource {resource}"
        tables = _referenced_logical_ids(resource)
        assert len(tables) == 1, f"{function}: DynamoDB resource {resource}"
        assert tables <= set(STACK_TABLES), f"{function}: DynamoDB resource {resource}"


@pytest.mark.parametrize("function", FUNCTION_IDS)
def test_only_the_idempotency_key_function_may_use_the_idempotency_table(function: str) -> None:
    """Given Idempotency-Key is served only by the keys function (key creation and top-ups)
    When a function's DynamoDB resources are read
    Then KeysFunction is allowed the idempotency table and every other function is not."""
    tables = set().union(*(_referenced_logical_ids(resource) for resource in _dynamodb_resources(function)))

    if function in IDEMPOTENCY_FUNCTIONS:
        assert IDEMPOTENCY_TABLE in tables, f"{function} serves Idempotency-Key but cannot use {IDEMPOTENCY_TABLE}"
    else:
        assert IDEMPOTENCY_TABLE not in tables, f"{function} does not serve Idempotency-Key"


def test_the_idempotency_key_functions_exist() -> None:
    """Given the idempotency-table check is keyed on logical ids
    When template.yaml is read
    Then every function named as serving Idempotency-Key is declared (a rename cannot pass silently)."""
    assert set(IDEMPOTENCY_FUNCTIONS) <= set(FUNCTION_IDS)


STACK_BUCKETS = ("ImagesBucket", "ResponsesBucket")
BUCKET_USERS = {
    "ResponsesBucket": {"ChatFunction", "ManagedChatFunction"},
    "ImagesBucket": {"ImagesFunction", "ImagesWorkerFunction"},
}


def _s3_statements(function: str) -> list[dict[str, Any]]:
    policies = functions()[function]["Properties"].get("Policies") or []
    return [
        statement
        for statement in _statements(policies)
        if any(str(action).startswith("s3:") for action in _as_list(statement["Action"]))
    ]


@pytest.mark.parametrize("function", FUNCTION_IDS)
def test_s3_permissions_are_object_actions_on_the_stacks_own_buckets(function: str) -> None:
    """Given the account may hold other buckets
    When a function is allowed S3 actions
    Then they are object reads, writes and deletes (no listing, no bucket administration) on the objects
    of one of the stack's buckets, never "*" nor a hard-coded ARN."""
    for statement in _s3_statements(function):
        assert set(_as_list(statement["Action"])) <= {"s3:GetObject", "s3:PutObject", "s3:DeleteObject"}, function
        for resource in _as_list(statement["Resource"]):
            assert isinstance(resource, dict), f"{function}: hard-coded S3 resource {resource}"
            buckets = _referenced_logical_ids(resource)
            assert len(buckets) == 1, f"{function}: S3 resource {resource}"
            assert buckets <= set(STACK_BUCKETS), f"{function}: S3 resource {resource}"
            assert str(resource.get("Sub", "")).split("}", 1)[1].startswith("/"), f"{function}: a bucket, not objects"


@pytest.mark.parametrize("bucket", STACK_BUCKETS)
def test_each_bucket_is_reached_only_by_the_functions_that_keep_it(bucket: str) -> None:
    """Stored responses are read by the chat function alone (a response is its account's only, and only the
    chat function checks that); generated images by the image functions alone."""
    users = {
        function
        for function in FUNCTION_IDS
        for statement in _s3_statements(function)
        if bucket in set().union(*(_referenced_logical_ids(r) for r in _as_list(statement["Resource"])))
    }
    assert users == BUCKET_USERS[bucket]


def test_the_chat_function_keeps_responses_only_under_their_prefix() -> None:
    (statement,) = _s3_statements("ChatFunction")
    assert statement["Resource"] == {"Sub": "${ResponsesBucket.Arn}/responses/*"}
    assert "s3:DeleteObject" in statement["Action"]


# ---------------------------------------------------------------- the control plane's secrets

INFERENCE_FUNCTIONS = ("ChatFunction", "ManagedChatFunction", "ImagesFunction", "ImagesWorkerFunction", "AudioFunction")
CHANNEL_SECRETS = (
    "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:ai-gateway/${Stage}/channels/*"
)


def _actions(function: str, service: str) -> list[tuple[str, Any, dict[str, Any]]]:
    """(action, resource, statement) of each of a function's actions on `service` (kms, secretsmanager, ...)."""
    policies = functions()[function]["Properties"].get("Policies") or []
    found = []
    for statement in _statements(policies):
        for action in _as_list(statement["Action"]):
            if str(action).startswith(f"{service}:"):
                found.extend((action, resource, statement) for resource in _as_list(statement.get("Resource")))
    return found


@pytest.mark.parametrize("function", FUNCTION_IDS)
def test_own_provider_keys_are_encrypted_by_the_keys_function_and_decrypted_by_inference_only(function: str) -> None:
    """Given customers' own provider keys are KMS ciphertexts
    When a function's KMS permissions are read
    Then they name the stack's own key only: Encrypt for the keys function (which registers them),
    Decrypt for the functions that call upstreams, nothing for the others."""
    granted = _actions(function, "kms")
    assert all(_referenced_logical_ids(resource) == {"ProviderKeysKey"} for _, resource, _ in granted), granted
    expected = (
        {"kms:Encrypt"} if function == "KeysFunction" else {"kms:Decrypt"} if function in INFERENCE_FUNCTIONS else set()
    )
    assert {action for action, _, _ in granted} == expected


# the admin API (which also deletes a channel's secret with it) and the console; both look up whether a
# secret an operator names exists and is not scheduled for deletion (DescribeSecret: metadata, no value)
CHANNEL_WRITERS = {
    "AdminFunction": {
        "secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:DeleteSecret",
        "secretsmanager:DescribeSecret",
    },
    "ConsoleFunction": {
        "secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:DescribeSecret",
    },
}  # fmt: skip


@pytest.mark.parametrize("function", FUNCTION_IDS)
def test_channel_secrets_are_read_by_inference_and_written_by_the_operators_functions_only(function: str) -> None:
    """Given channel keys are Secrets Manager secrets under the stack's channel prefix
    Then each Secrets Manager permission names either the provider secret or that prefix, never "*";
    only the inference functions read channel secrets, and only the admin API's and the console's
    functions (operators entering a channel's key) write them; neither reads one."""
    granted = _actions(function, "secretsmanager")
    for action, resource, _ in granted:
        channel = resource == {"Sub": CHANNEL_SECRETS}
        assert channel or resource == {"Ref": "ProviderSecretArn"}, (function, action, resource)
        if action == "secretsmanager:GetSecretValue":
            assert function in INFERENCE_FUNCTIONS, function
        else:
            assert channel, (function, action)
            assert action in CHANNEL_WRITERS.get(function, set()), (function, action)
    writes = {action for action, _, _ in granted if action != "secretsmanager:GetSecretValue"}
    assert writes == CHANNEL_WRITERS.get(function, set())
    reads_channels = any(
        resource == {"Sub": CHANNEL_SECRETS} for action, resource, _ in granted if action.endswith("GetSecretValue")
    )
    assert reads_channels == (function in INFERENCE_FUNCTIONS)


@pytest.mark.parametrize("function", FUNCTION_IDS)
def test_a_query_of_the_table_itself_is_limited_to_the_partitions_it_needs(function: str) -> None:
    """Given the hot path's functions query the table for the runtime catalog and the pending charges
    of an ended hold window only (and the keys function an account's own provider keys)
    Then their Query on the table (not an index) is conditioned on dynamodb:LeadingKeys; the sweeper
    and usage functions, which read the ledger by account, are left as they were."""
    if function in ("SweeperFunction", "UsageFunction", "ConsoleFunction"):
        return
    for action, resource, statement in _actions(function, "dynamodb"):
        if action == "dynamodb:Query" and resource == {"GetAtt": "GatewayTable.Arn"}:
            condition = statement.get("Condition") or {}
            leading = [keys.get("dynamodb:LeadingKeys") for keys in condition.values()]
            assert leading, f"{function} may query any partition of the table"
            assert "CATALOG" in leading[0] or leading[0] == ["PENDING#*"], leading
            if "CATALOG" in leading[0]:  # the stamp's partition, and the one an import moves it to
                assert "CATALOG#*" in leading[0], leading
                assert "ForAllValues:StringLike" in condition, condition


SETTLING_FUNCTIONS = {"ChatFunction", "ManagedChatFunction", "ImagesFunction", "ImagesWorkerFunction", "AudioFunction"}


def _sqs_actions_on(function: str, queue: str) -> set[str]:
    policies = functions()[function]["Properties"].get("Policies") or []
    return {
        action
        for statement in _statements(policies)
        if queue in set().union(*(_referenced_logical_ids(r) for r in _as_list(statement.get("Resource"))))
        for action in _as_list(statement["Action"])
        if str(action).startswith("sqs:")
    }


@pytest.mark.parametrize("function", FUNCTION_IDS)
def test_every_function_that_settles_may_keep_a_refused_charge_on_the_unsettled_queue(function: str) -> None:
    """A charge DynamoDB refused after the answer went out is sent to the unsettled queue by the function
    that settles it, and applied by the sweeper; no other function touches the queue (a first deploy
    without the permission would lose those charges silently)."""
    actions = _sqs_actions_on(function, "UnsettledQueue")
    if function in SETTLING_FUNCTIONS:
        assert actions == {"sqs:SendMessage"}, function
    elif function == "SweeperFunction":
        assert actions == {"sqs:ReceiveMessage", "sqs:DeleteMessage"}
    else:
        assert not actions, function
    environment = load_template()["Globals"]["Function"]["Environment"]["Variables"]
    assert environment["UNSETTLED_QUEUE_URL"] == {"Ref": "UnsettledQueue"}
