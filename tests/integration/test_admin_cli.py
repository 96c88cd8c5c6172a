"""`gateway-admin`, the installed console script, against DynamoDB Local; its keys work at once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

from tests.conftest import TEST_IDEMPOTENCY_TABLE, TEST_TABLE


def admin(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    script = shutil.which("gateway-admin", path=str(Path(sys.executable).parent))
    assert script is not None, "gateway-admin is not installed as a console script"
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_ACCESS") and k != "GATEWAY_TABLE"}
    return subprocess.run(
        [script, *args],
        env={**clean, "AWS_ENDPOINT_URL_DYNAMODB": env["AWS_ENDPOINT_URL_DYNAMODB"]},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def ok(result: subprocess.CompletedProcess[str]) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_operator_bootstraps_an_account_and_its_key_calls_models(gateway_env, gateway_url, upstream):
    table = ("--table", TEST_TABLE)
    # Given an account created with 2.5 credits (no AWS credentials needed against DynamoDB Local)
    account = ok(admin(gateway_env, *table, "create-account", "--name", "Acme", "--credits", "2.5"))
    assert account["balance"] == 2.5
    assert account["balance_micro"] == 2_500_000
    # When the operator issues a key and tops up
    key = ok(admin(gateway_env, *table, "create-key", "--account", account["account_id"], "--name", "ci"))
    assert key["key"].startswith("sk-gw-")
    assert key["kind"] == "inference"
    topped = ok(admin(gateway_env, *table, "top-up", "--account", account["account_id"], "--credits", "0.000001"))
    assert topped["balance_micro"] == 2_500_001
    assert topped["granted_micro"] == 2_500_001
    # Then the key works at once
    response = httpx.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": "test/echo", "messages": [{"role": "user", "content": "hi"}]},
        headers={"Authorization": f"Bearer {key['key']}"},
    )
    assert response.status_code == 200, response.text
    shown = ok(admin(gateway_env, *table, "show-account", "--account", account["account_id"]))
    assert shown["balance_micro"] < 2_500_001
    assert shown["used"] > 0
    # And the table holds only the key's hash, never the key
    assert key["key"] not in json.dumps(scan_table(gateway_env))


def test_management_keys_are_a_separate_kind(gateway_env):
    account = ok(admin(gateway_env, "--table", TEST_TABLE, "create-account", "--name", "M", "--credits", "1"))
    key = ok(
        admin(
            gateway_env,
            "--table",
            TEST_TABLE,
            "create-key",
            "--account",
            account["account_id"],
            "--name",
            "m",
            "--management",
        )
    )
    assert key["kind"] == "management"
    assert key["key"].startswith("sk-gwm-")


def test_bad_amounts_and_unknown_accounts_are_clear_errors(gateway_env):
    too_precise = admin(gateway_env, "--table", TEST_TABLE, "create-account", "--name", "x", "--credits", "0.0000001")
    assert too_precise.returncode == 2
    assert "6 decimal places" in too_precise.stderr
    missing = admin(gateway_env, "--table", TEST_TABLE, "top-up", "--account", "acct_nope", "--credits", "1")
    assert missing.returncode == 1
    assert "acct_nope" in missing.stderr


def scan_table(env: dict[str, str]) -> list[dict]:
    from gateway.storage import dynamo

    items: list[dict] = []
    kwargs: dict = {"TableName": TEST_TABLE}
    while True:
        page = dynamo.client().scan(**kwargs)
        items.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def test_a_retried_top_up_with_an_idempotency_key_adds_the_credits_once(gateway_env):
    account = ok(admin(gateway_env, "--table", TEST_TABLE, "create-account", "--name", "T", "--credits", "1"))
    top_up = (
        "--table",
        TEST_TABLE,
        "--idempotency-table",
        TEST_IDEMPOTENCY_TABLE,
        "top-up",
        "--account",
        account["account_id"],
        "--credits",
        "2",
        "--idempotency-key",
        "invoice-42",
    )
    first = ok(admin(gateway_env, *top_up))
    again = ok(admin(gateway_env, *top_up))
    assert first["balance_micro"] == again["balance_micro"] == 3_000_000
    shown = ok(admin(gateway_env, "--table", TEST_TABLE, "show-account", "--account", account["account_id"]))
    assert shown["granted_micro"] == 3_000_000
