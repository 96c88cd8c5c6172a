"""`gateway-admin record-opening-grants`: accounts created before grants had entries get one entry
for their initial credits, once, and only when that alone explains their drift."""

from __future__ import annotations

import json

import pytest

from gateway.billing import audit
from gateway.services import accounts
from gateway.storage import dynamo, layout
from tests.conftest import TEST_TABLE
from tests.integration.test_admin_cli import admin
from tests.integration.test_ledger_audit import change, chat


def grant_entries(account_id: str) -> list[dict]:
    return [
        dynamo.from_item(item)
        for item in dynamo.client().query(
            TableName=TEST_TABLE,
            KeyConditionExpression="pk = :pk AND begins_with(sk, :grant)",
            ExpressionAttributeValues={
                ":pk": {"S": layout.account_pk(account_id)},
                ":grant": {"S": layout.GRANT_PREFIX},
            },
            ConsistentRead=True,
        )["Items"]
    ]


def delete_grant(entry: dict) -> None:
    dynamo.client().delete_item(TableName=TEST_TABLE, Key=layout.key(entry["pk"], entry["sk"]))


def test_accounts_created_before_grants_had_entries_get_an_opening_entry_once(
    gateway_env, gateway_url, upstream, make_tenant
):
    # Given an account as this version's predecessors created it: its initial credits have no entry
    legacy = make_tenant("4")
    assert chat(gateway_url, legacy.key, "test/echo").status_code == 200
    accounts.top_up(legacy.account_id, 1_000_000)
    (initial,) = [entry for entry in grant_entries(legacy.account_id) if entry["source"] == "initial"]
    delete_grant(initial)
    assert audit.audit_account(legacy.account_id).drifting == ["balance", "granted"]
    # When the operator records opening grants, once after upgrading
    result = admin(gateway_env, "--table", TEST_TABLE, "record-opening-grants", "--account", legacy.account_id)
    # Then the initial credits get an `opening` entry dated at the account's creation, and no drift is left
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["recorded"] == [
        {"account_id": legacy.account_id, "recorded_micro": 4_000_000, "reason": "recorded"}
    ]
    (opening,) = [entry for entry in grant_entries(legacy.account_id) if entry["source"] == "opening"]
    assert opening["amount"] == 4_000_000
    assert opening["created_at"] == accounts.get_account(legacy.account_id).created_at
    assert opening["recorded_at"] >= opening["created_at"]
    assert audit.audit_account(legacy.account_id).balanced
    # And running it again records nothing more
    assert audit.record_opening_grants(legacy.account_id) == {"recorded": [], "left": [], "balanced": 1}


@pytest.mark.parametrize("fault", ["deleted top-up", "raised balance too"])
def test_opening_entries_are_not_written_for_drift_a_missing_initial_grant_does_not_explain(make_tenant, fault):
    tenant = make_tenant("2")
    accounts.top_up(tenant.account_id, 3_000_000)
    entries = {entry["source"]: entry for entry in grant_entries(tenant.account_id)}
    # Given a deleted top-up entry (the account has its initial entry), or a legacy account whose
    # balance was also raised behind the ledger's back
    deleted = entries["top_up" if fault == "deleted top-up" else "initial"]
    delete_grant(deleted)
    raised = 7 if fault == "raised balance too" else 0
    change(layout.account_key(tenant.account_id), "ADD balance :n", {":n": {"N": str(raised)}})
    try:
        # When opening grants are recorded
        outcome = audit.record_opening_grants(tenant.account_id)
        # Then none is: the account is left as it is, with its report
        (left,) = outcome["left"]
        assert outcome["recorded"] == []
        assert left["reason"] == "not a missing initial grant"
        assert left["balance_drift_micro"] == deleted["amount"] + raised
        assert {entry["source"] for entry in grant_entries(tenant.account_id)} == set(entries) - {deleted["source"]}
    finally:
        dynamo.client().put_item(TableName=TEST_TABLE, Item=dynamo.to_attributes(deleted))
        change(layout.account_key(tenant.account_id), "ADD balance :n", {":n": {"N": str(-raised)}})
    assert audit.audit_account(tenant.account_id).balanced
