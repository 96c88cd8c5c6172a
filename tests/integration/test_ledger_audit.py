"""The ledger audit recomputes each balance from its entries alone (grants, daily usage aggregates,
open holds) and cross-checks the aggregates with the request traces: zero drift after real traffic
through the gateway, and the exact drift, per component, when the table is changed behind the
ledger's back. Every test puts back what it broke, so the suite ends with a balanced ledger."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pytest

from devtools.devserver import function_module
from gateway.billing import audit
from gateway.billing.holds import RELEASE_MARGIN_SECONDS
from gateway.billing.sweeper import sweep_expired
from gateway.config import get_settings
from gateway.services import accounts
from gateway.storage import dynamo, layout
from gateway.storage.ledger import Grant, Hold, LedgerReader
from tests.conftest import TEST_TABLE, aggregated, balance_of
from tests.integration.test_admin_cli import admin
from tests.support.lambda_events import LambdaContext

CHAT = [
    ("test/echo", False),
    ("test/echo", True),
    ("test/fail-500", False),
    ("test/cut-stream", True),
    ("test/no-usage", False),
    ("test/fallback-5xx", False),
    ("test/pricey", False),
]


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def chat(gateway_url: str, key: str, model: str, stream: bool = False) -> httpx.Response:
    return httpx.post(
        f"{gateway_url}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "count the ledger"}], "stream": stream},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def some_traffic(gateway_url: str, key: str) -> None:
    """Successes, failures, streams (whole and cut) in three formats, embeddings and an image."""
    for model, stream in CHAT:
        assert chat(gateway_url, key, model, stream).status_code in (200, 502)
    anthropic = httpx.post(
        f"{gateway_url}/v1/messages",
        json={"model": "test/claude", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]},
        headers={"x-api-key": key, "anthropic-version": "2023-06-01"},
        timeout=30,
    )
    gemini = httpx.post(
        f"{gateway_url}/v1beta/models/test/gemini:generateContent",
        json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
        headers={"x-goog-api-key": key},
        timeout=30,
    )
    embeddings = httpx.post(
        f"{gateway_url}/v1/embeddings",
        json={"model": "test/embed", "input": ["one", "two"]},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    image = httpx.post(
        f"{gateway_url}/v1/images/generations",
        json={"model": "test/image", "prompt": "an otter"},
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )
    for response in (anthropic, gemini, embeddings, image):
        assert response.status_code == 200, response.text


def traced_credits(account_id: str) -> int:
    return LedgerReader(TEST_TABLE).traced_charges(account_id, "2000-01-01", today()).get(today(), 0)


def change(key: dict, expression: str, values: dict) -> None:
    """An UpdateItem straight to the table: behind the ledger's back."""
    values_if_any = {"ExpressionAttributeValues": values} if values else {}
    dynamo.client().update_item(TableName=TEST_TABLE, Key=key, UpdateExpression=expression, **values_if_any)


def test_real_traffic_a_top_up_an_open_hold_and_a_sweep_leave_no_drift(gateway_url, upstream, make_tenant):
    # Given an account that was created with 10 credits, was topped up, and served real traffic
    tenant = make_tenant("10")
    accounts.top_up(tenant.account_id, 2_500_000)
    some_traffic(gateway_url, tenant.key)
    # When the audit runs (once the aggregator has added today's entries)
    aggregated()
    report = audit.audit_account(tenant.account_id, drained=True)
    # Then every component agrees, in exact micro-credits, and traces match the day's aggregates
    assert report.balanced, report.view()
    assert (report.grants, report.grant_entries) == (12_500_000, 2)
    assert report.granted == 12_500_000
    assert report.charges == traced_credits(tenant.account_id) > 0
    assert report.usage_aggregates >= len(CHAT) - 2  # one per (model, key)
    assert (report.holds, report.open_holds) == (0, 0)
    assert report.balance == report.expected_balance == balance_of(tenant.account_id) == 12_500_000 - report.charges
    assert report.trace_days[1] == today()
    assert report.mismatched_days == ()

    with ThreadPoolExecutor(max_workers=1) as pool:
        # And with a request in flight, its hold is counted (in its shard's window: no reservation item)
        pending = pool.submit(chat, gateway_url, tenant.key, "test/hold")
        deadline = time.monotonic() + 10
        while upstream.held < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        shards = accounts.get_account(tenant.account_id).balance_shards
        ((window, amount),) = [item for shard in shards for item in shard.held.items() if item[1]]
        held = audit.audit_account(tenant.account_id)
        assert held.balanced, held.view()
        assert (held.holds, held.open_holds) == (amount, 0)
        assert held.balance == report.balance - amount
        # And when the sweeper releases it before the request could settle (its index of quiet shards is
        # eventually consistent: a sweep looks at the recent windows again, as the next run would), then the
        # request ends
        after_the_window = layout.window_end(window) + RELEASE_MARGIN_SECONDS + 1
        released, deadline = 0, time.monotonic() + 10
        while still_held(tenant.account_id) and time.monotonic() < deadline:
            released += sweep_expired(now=after_the_window).released
            time.sleep(0.05)
        # (on a slow machine the request's own deadline may end it first: its settlement gives the hold
        # back instead; either way nothing stays held, and the audit below must balance exactly)
        assert not still_held(tenant.account_id)
        upstream.release()
        pending.result()
    swept = audit.audit_account(tenant.account_id)
    assert swept.balanced, swept.view()
    assert swept.holds == 0
    assert swept.balance == report.balance


def still_held(account_id: str) -> bool:
    return any(amount for shard in accounts.get_account(account_id).balance_shards for amount in shard.held.values())


def test_a_balance_changed_behind_the_ledgers_back_is_reported_exactly(gateway_env, gateway_url, upstream, make_tenant):
    tenant = make_tenant("3")
    assert chat(gateway_url, tenant.key, "test/echo").status_code == 200
    # Given 1234 micro-credits added to the balance without any entry
    change(layout.account_key(tenant.account_id), "ADD balance :n", {":n": {"N": "1234"}})
    try:
        # When an operator audits the account
        result = admin(gateway_env, "--table", TEST_TABLE, "audit", "--account", tenant.account_id)
        # Then the command fails and names the drift, exactly, and its component
        assert result.returncode == 3, result.stderr
        report = json.loads(result.stdout)
        assert report["balanced"] is False
        assert report["drifting"] == ["balance"]
        assert report["balance_drift_micro"] == 1234
        assert report["balance_micro"] - report["expected_balance_micro"] == 1234
        assert report["granted_drift_micro"] == 0
        assert report["usage_vs_traces"] == []
        # And the audit of every account lists it among the drifting ones
        everything = admin(gateway_env, "--table", TEST_TABLE, "audit")
        assert everything.returncode == 3, everything.stderr
        summary = json.loads(everything.stdout)
        assert summary["balanced"] is False
        assert summary["audited"] >= 1
        assert summary["abs_balance_drift_micro"] >= 1234
        drifting = {account["account_id"]: account for account in summary["accounts"]}
        assert drifting[tenant.account_id]["balance_drift_micro"] == 1234
    finally:
        change(layout.account_key(tenant.account_id), "ADD balance :n", {":n": {"N": "-1234"}})
    # And once it is put back, the audit passes with exit code 0
    restored = admin(gateway_env, "--table", TEST_TABLE, "audit", "--account", tenant.account_id)
    assert restored.returncode == 0, restored.stdout
    assert json.loads(restored.stdout)["balanced"] is True


def test_a_deleted_grant_entry_is_drift_of_the_balance_and_of_the_granted_total(gateway_env, make_tenant):
    # Given a top-up of 2 credits whose grant entry is then deleted
    tenant = make_tenant("1")
    accounts.top_up(tenant.account_id, 2_000_000)
    key = {"pk": {"S": layout.account_pk(tenant.account_id)}, "sk": {"S": layout.GRANT_PREFIX}}
    entries = dynamo.client().query(
        TableName=TEST_TABLE,
        KeyConditionExpression="pk = :pk AND begins_with(sk, :grant)",
        ExpressionAttributeValues={":pk": key["pk"], ":grant": key["sk"]},
        ConsistentRead=True,
    )["Items"]
    (top_up,) = [entry for entry in entries if entry["source"] == {"S": "top_up"}]
    dynamo.client().delete_item(TableName=TEST_TABLE, Key={"pk": top_up["pk"], "sk": top_up["sk"]})
    try:
        # When the account is audited
        report = audit.audit_account(tenant.account_id)
        # Then both the balance and the granted total are 2 credits above the entries
        assert report.drifting == ["balance", "granted"]
        assert report.balance_drift == report.granted_drift == 2_000_000
        assert (report.grants, report.grant_entries) == (1_000_000, 1)
    finally:
        dynamo.client().put_item(TableName=TEST_TABLE, Item=top_up)
    assert audit.audit_account(tenant.account_id).balanced


def test_an_altered_usage_aggregate_is_drift_of_that_day(gateway_url, upstream, make_tenant):
    # Given a request charged, then its daily aggregate raised by 777 micro-credits
    tenant = make_tenant("5")
    assert chat(gateway_url, tenant.key, "test/echo").status_code == 200
    aggregated()
    (aggregate,) = dynamo.client().query(
        TableName=TEST_TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": layout.usage_pk(tenant.account_id)}},
        ConsistentRead=True,
    )["Items"]
    aggregate_key = {"pk": aggregate["pk"], "sk": aggregate["sk"]}
    change(aggregate_key, "ADD credits :n", {":n": {"N": "777"}})
    try:
        # When the account is audited
        report = audit.audit_account(tenant.account_id, drained=True)
        # Then the balance agrees with the charges its shards booked, and that day's aggregate is 777
        # above both them and the day's traces
        assert report.drifting == [f"usage:{today()}"]
        assert report.balance_drift == 0
        (mismatch,) = report.mismatched_days
        assert (mismatch.day, mismatch.drift) == (today(), 777)
        assert mismatch.traces == mismatch.charged == traced_credits(tenant.account_id) == report.charges
        assert mismatch.aggregates == mismatch.traces + 777
        (viewed,) = report.view()["usage_vs_traces"]
        assert viewed == {
            "day": today(),
            "aggregates_micro": mismatch.aggregates,
            "traces_micro": mismatch.traces,
            "charged_micro": mismatch.charged,
            "drift_micro": 777,
        }
        # While an audit that does not know the aggregator caught up compares no day still this recent
        assert audit.audit_account(tenant.account_id).balanced
    finally:
        change(aggregate_key, "ADD credits :n", {":n": {"N": "-777"}})
    assert audit.audit_account(tenant.account_id, drained=True).balanced


def test_charges_booked_behind_the_ledgers_back_are_drift_of_the_balance_and_of_that_day(
    gateway_url, upstream, make_tenant
):
    # Given a request charged, then 555 micro-credits taken from a shard's balance into its charges
    tenant = make_tenant("5")
    assert chat(gateway_url, tenant.key, "test/echo").status_code == 200
    aggregated()
    shard = layout.balance_key(tenant.account_id, 3)
    names = {"#day": today()}
    dynamo.client().update_item(
        TableName=TEST_TABLE,
        Key=shard,
        UpdateExpression="SET charged.#day = if_not_exists(charged.#day, :zero) + :n",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={":n": {"N": "555"}, ":zero": {"N": "0"}},
    )
    try:
        # When the account is audited
        report = audit.audit_account(tenant.account_id, drained=True)
        # Then its balance is 555 above what its entries leave, and the day's charges 555 above its aggregate
        assert report.drifting == ["balance", f"usage:{today()}"]
        assert report.balance_drift == 555
        (mismatch,) = report.mismatched_days
        assert mismatch.charged == mismatch.aggregates + 555 == mismatch.traces + 555  # type: ignore[operator]
    finally:
        dynamo.client().update_item(
            TableName=TEST_TABLE,
            Key=shard,
            UpdateExpression="SET charged.#day = charged.#day - :n",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={":n": {"N": "555"}},
        )
    assert audit.audit_account(tenant.account_id, drained=True).balanced


def test_days_whose_traces_may_have_expired_are_not_cross_checked(gateway_url, upstream, make_tenant):
    # Given a day whose request trace is gone from the account's listing, as when TTL deletes traces
    # after TraceRetentionDays (taken out of the index rather than deleted: put back, a deleted trace
    # would be a new ledger entry to the aggregator)
    tenant = make_tenant("5")
    response = chat(gateway_url, tenant.key, "test/echo")
    assert response.status_code == 200
    trace_key = layout.trace_key(response.headers["x-trace-id"])
    aggregated()  # the answer went out before its settlement: wait for it (and its aggregation)
    trace = dynamo.client().get_item(TableName=TEST_TABLE, Key=trace_key, ConsistentRead=True)["Item"]
    change(trace_key, "REMOVE gsi1pk", {})
    try:
        # When the audit checks traces only for days they are all still kept (here: not today)
        report = audit.audit_account(tenant.account_id, trace_days=("2000-01-01", "2000-01-02"), drained=True)
        # Then the balance is still checked (against the charges its shards booked) and agrees
        assert report.balanced, report.view()
        assert report.charges == int(trace["credits"]["N"]) > 0
        assert report.trace_days == ("2000-01-01", "2000-01-02")
        # While a check that includes today reports the day's traces short of its aggregates
        checked = audit.audit_account(tenant.account_id, trace_days=(today(), today()), drained=True)
        assert checked.drifting == [f"usage:{today()}"]
        assert checked.mismatched_days[0].drift == report.charges
    finally:
        change(trace_key, "SET gsi1pk = :pk", {":pk": trace["gsi1pk"]})
    assert audit.audit_account(tenant.account_id).balanced


def test_a_top_up_landing_between_the_audits_reads_is_read_again_not_reported(make_tenant, monkeypatch):
    # Given a top-up that commits while the audit is reading (after the account, before the grants)
    tenant = make_tenant("1")
    monkeypatch.setattr(audit, "CONFIRMATIONS", 0)  # the re-read alone must see through it
    real_grants = LedgerReader.grants
    calls = []

    def grants_after_a_top_up(self: LedgerReader, account_id: str) -> list[Grant]:
        if not calls:
            accounts.top_up(account_id, 1_000_000)
        calls.append(account_id)
        return real_grants(self, account_id)

    monkeypatch.setattr(LedgerReader, "grants", grants_after_a_top_up)
    # When the account is audited
    report = audit.audit_account(tenant.account_id)
    # Then the account item changed between its two reads, so the entries were read again: no drift
    assert len(calls) == 2
    assert report.balanced, report.view()
    assert report.grants == report.balance == 2_000_000


@pytest.mark.parametrize("phantom_readings", [1, 99])
def test_a_reading_that_is_off_is_confirmed_before_it_is_reported(make_tenant, monkeypatch, phantom_readings):
    # Given the reservation index still lists a recorded hold already settled (it is eventually
    # consistent), in the first reading only, or in every one
    tenant = make_tenant("1")
    monkeypatch.setattr(audit, "CONFIRM_AFTER_SECONDS", 0)
    real_holds = LedgerReader.open_holds
    readings = []

    def with_a_phantom(self: LedgerReader, account_id: str) -> list[Hold]:
        readings.append(account_id)
        phantom = [Hold("gen-settled", 500)] if len(readings) <= phantom_readings else []
        return real_holds(self, account_id) + phantom

    monkeypatch.setattr(LedgerReader, "open_holds", with_a_phantom)
    # When the account is audited
    report = audit.audit_account(tenant.account_id)
    if phantom_readings == 1:
        # Then a second reading finds nothing wrong and that is the report
        assert len(readings) == 2
        assert report.balanced, report.view()
    else:
        # Then a drift that two readings agree on is reported, exactly: the shards hold 500 less
        # than the open reservations say
        assert len(readings) == 2
        assert report.drifting == ["holds"]
        assert report.holds_drift == -500


def test_an_unknown_account_is_a_clear_error(gateway_env):
    result = admin(gateway_env, "--table", TEST_TABLE, "audit", "--account", "acct_nope")
    assert result.returncode == 1
    assert "acct_nope" in result.stderr


@pytest.mark.parametrize(
    ("retention", "first", "hourly"),
    [(1, "2026-11-22", "2026-11-22"), (2, "2026-11-21", "2026-11-21"), (90, "2026-08-25", "2026-11-21")],
)
def test_retained_days_are_those_whose_traces_are_all_still_kept(monkeypatch, retention, first, hourly):
    monkeypatch.setenv("TRACE_RETENTION_DAYS", str(retention))
    get_settings.cache_clear()
    try:
        assert audit.retained_days("2026-11-22") == (first, "2026-11-22")
        # the hourly audit checks yesterday's traces, unless they may be gone already
        assert audit.recent_trace_day("2026-11-22") == hourly
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


class LongContext(LambdaContext):
    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def run_sweeper_audit() -> dict:
    """The sweeper function's own handler, as its hourly schedule invokes it."""
    module = function_module("sweeper")
    return module.handler({"task": module.AUDIT_TASK}, LongContext(function_name="SweeperFunction"))


def emf(output: str) -> dict[str, float]:
    """Each metric's value in the EMF lines of `output`."""
    values = {}
    for line in output.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            blob = json.loads(line)
            for directive in blob["_aws"]["CloudWatchMetrics"]:
                for metric in directive["Metrics"]:
                    value = blob[metric["Name"]]
                    values[metric["Name"]] = sum(value) if isinstance(value, list) else value
    return values


def test_the_hourly_audit_checks_active_accounts_and_counts_drift_in_its_metrics(
    gateway_url, upstream, make_tenant, capfd, caplog, monkeypatch
):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    # Given an account active today whose balance was lowered behind the ledger's back, and an idle
    # account (not active, so not audited by the schedule) with the same fault
    active, idle = make_tenant("3"), make_tenant("3")
    assert chat(gateway_url, active.key, "test/echo").status_code == 200
    aggregated()  # the day's usage item lists its account among the active ones
    reader = LedgerReader(TEST_TABLE)
    assert active.account_id in reader.active_accounts(today())
    assert idle.account_id not in reader.active_accounts(today())
    for tenant, amount in ((active, -4321), (idle, 1)):
        change(layout.account_key(tenant.account_id), "ADD balance :n", {":n": {"N": str(amount)}})
    try:
        # When the sweeper's hourly schedule runs
        capfd.readouterr()
        result = run_sweeper_audit()
        output = capfd.readouterr().out
    finally:
        for tenant, amount in ((active, -4321), (idle, 1)):
            change(layout.account_key(tenant.account_id), "ADD balance :n", {":n": {"N": str(-amount)}})
    # Then it audited today's active accounts and counts exactly the one drifting, by its exact drift
    metrics = emf(output)
    assert result["audited"] == metrics["AuditedAccounts"] >= 1
    assert result["skipped"] == 0
    assert (metrics["LedgerDrift"], metrics["LedgerDriftMicro"]) == (1, 4321)
    assert (result["balanced"], result["drifting"], result["abs_balance_drift_micro"]) == (False, 1, 4321)
    # And its log names the account and the drift, per component
    (logged,) = [record.audit for record in caplog.records if record.getMessage() == "ledger drift"]
    assert logged["account_id"] == active.account_id
    assert (logged["drifting"], logged["balance_drift_micro"]) == (["balance"], -4321)
    # And once the balance is put back, the next run finds no drift
    capfd.readouterr()
    assert run_sweeper_audit()["drifting"] == 0
    assert emf(capfd.readouterr().out)["LedgerDrift"] == 0
