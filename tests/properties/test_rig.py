"""The rig can fail: the audit sees money moved behind the ledger's back, the proxy fails exactly the
call it is armed for, a scripted upstream keeps to the cap it received and records what it did."""

from __future__ import annotations

import pytest

from gateway.config import get_settings
from gateway.services import accounts
from gateway.storage import dynamo, layout
from tests.properties.audit import audit_account
from tests.properties.driver import chat_request, run
from tests.properties.rig import Rig
from tests.support.dynamo_faults import Fault
from tests.support.scripted import Behaviour

pytestmark = pytest.mark.properties


def test_the_audit_sees_a_balance_changed_behind_the_ledger(rig: Rig) -> None:
    account = accounts.create_account("drift", 5_000_000)
    audit_account(account.account_id, 5_000_000, swept=True)
    _add_to_balance(account.account_id, -7)
    try:
        with pytest.raises(AssertionError, match="drift: granted 5000000 - balance 4999993 != charges 0"):
            audit_account(account.account_id, 5_000_000, swept=True)
    finally:
        _add_to_balance(account.account_id, 7)  # the books balance again for any later audit of the table


def _add_to_balance(account_id: str, micro: int) -> None:
    dynamo.client().update_item(
        TableName=get_settings().table_name,
        Key=layout.account_key(account_id),
        UpdateExpression="ADD balance :change",
        ExpressionAttributeValues={":change": {"N": str(micro)}},
    )


def test_the_proxy_fails_the_call_it_is_armed_for(rig: Rig) -> None:
    table, key = get_settings().table_name, layout.trace_key("gen-none")
    rig.proxy.arm(Fault("GetItem", 2, 4, "throttle"))
    dynamo.client().get_item(TableName=table, Key=key)  # the first GetItem passes
    with pytest.raises(dynamo.DynamoError, match="ThrottlingException"):
        dynamo.client().get_item(TableName=table, Key=key)  # the second fails on every attempt
    calls = rig.proxy.disarm()
    assert [call.injected for call in calls] == [None, "throttle", "throttle", "throttle", "throttle"]


def test_a_scripted_upstream_keeps_to_its_cap_and_is_charged_what_it_reported(rig: Rig) -> None:
    behaviour = Behaviour(tokens=9, usage="above", skew=100)
    example = run(
        rig,
        lambda marker: chat_request("openai", "test/echo", f"alpha bravo [[script:{marker}]]", True, {"max_tokens": 5}),
        behaviour=behaviour,
    )
    (record,) = example.records
    assert record.caps == {"max_tokens": 5}
    assert example.result.delivered == 5
    assert record.reported == (record.prompt_tokens, 5)  # hidden tokens too stay within the cap
    assert example.entry is not None
    assert example.entry["completion_tokens"] == 5
