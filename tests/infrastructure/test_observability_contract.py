"""The dashboard and alarms chart only metrics the code emits (namespace, name and dimensions),
and the code emits what its catalog (gateway.observability.METRICS) says."""

from __future__ import annotations

import io
import json
import re
from contextlib import redirect_stdout

import pytest

from devtools.template import resources
from gateway import observability
from gateway.observability import METRICS, NAMESPACE
from gateway.storage.credits import LedgerEntry

SEARCH = re.compile(r"SEARCH\('\{([^}]*)\} MetricName=\"([^\"]+)\"")


def dashboard_body() -> dict:
    (dashboard,) = resources("AWS::CloudWatch::Dashboard").values()
    template = dashboard["Properties"]["DashboardBody"]["Sub"]
    return json.loads(re.sub(r"\$\{[^}]+\}", "x", template))


def dashboard_references() -> list[tuple[str, tuple[str, ...]]]:
    """(metric, dimension names) of every AIGateway metric the dashboard charts."""
    found = []
    for widget in dashboard_body()["widgets"]:
        for line in widget["properties"]["metrics"]:
            if isinstance(line[0], dict):
                for namespace_and_dims, name in SEARCH.findall(line[0]["expression"]):
                    namespace, *dimensions = namespace_and_dims.split(",")
                    if namespace == NAMESPACE:
                        found.append((name, tuple(sorted(dimensions))))
            elif line[0] == NAMESPACE:
                parts = [part for part in line[2:] if not isinstance(part, dict)]
                found.append((line[1], tuple(sorted(parts[0::2]))))
    return found


def alarm_references() -> list[tuple[str, tuple[str, ...]]]:
    found = []
    for alarm in resources("AWS::CloudWatch::Alarm").values():
        props = alarm["Properties"]
        metrics = (
            [props]
            if "MetricName" in props
            else [query["MetricStat"]["Metric"] for query in props.get("Metrics", []) if "MetricStat" in query]
        )
        for metric in metrics:
            if metric["Namespace"] == NAMESPACE:
                found.append((metric["MetricName"], tuple(sorted(d["Name"] for d in metric.get("Dimensions", [])))))
    return found


def declared(name: str, dimensions: tuple[str, ...]) -> bool:
    return name in METRICS and dimensions in {tuple(sorted(s)) for s in METRICS[name]}


def test_the_dashboard_charts_what_an_operator_needs():
    titles = " ".join(w["properties"]["title"] for w in dashboard_body()["widgets"]).lower()
    for topic in (
        "traffic",
        "error",
        "latency",
        "first token",
        "tokens",
        "credits",
        "upstream",
        "throttles",
        "cold starts",
        "dynamodb",
        "ledger",
    ):
        assert topic in titles


@pytest.mark.parametrize("reference", dashboard_references(), ids=lambda r: f"{r[0]}{list(r[1])}")
def test_every_dashboard_metric_is_one_the_code_emits(reference):
    assert declared(*reference), f"the dashboard charts {reference}, which the code never emits"


def test_alarms_cover_5xx_upstream_errors_throttling_the_sweeper_unsettled_charges_and_ledger_drift():
    alarms = resources("AWS::CloudWatch::Alarm")
    expected = {
        "Api5xxAlarm", "UpstreamErrorRateAlarm", "ThrottlingAlarm", "SweeperFailureAlarm", "LedgerDriftAlarm",
        "AggregatorLagAlarm", "UnsettledChargesAlarm",
    }  # fmt: skip
    assert expected <= set(alarms)
    for alarm in alarms.values():
        assert "If" in alarm["Properties"]["AlarmActions"], "alarms notify the topic given as a parameter"
    assert alarm_references(), "the upstream error rate alarm reads the gateway's own metrics"
    for reference in alarm_references():
        assert declared(*reference), f"an alarm reads {reference}, which the code never emits"


def test_any_ledger_drift_the_hourly_audit_finds_raises_the_alarm():
    """Given the sweeper's hourly audit emits LedgerDrift (drifting accounts) under `service`
    When the alarm reads it
    Then one drifting account in an hour is enough, and no data (no audit yet) is not an alarm."""
    props = resources("AWS::CloudWatch::Alarm")["LedgerDriftAlarm"]["Properties"]
    (schedule,) = [
        event["Properties"]["Schedule"]
        for event in resources("AWS::Serverless::Function")["SweeperFunction"]["Properties"]["Events"].values()
        if "audit" in event["Properties"].get("Input", "")
    ]

    assert (props["Namespace"], props["MetricName"]) == (NAMESPACE, "LedgerDrift")
    assert [d["Name"] for d in props["Dimensions"]] == ["service"]
    assert props["Statistic"] in ("Maximum", "Sum")
    assert (props["Threshold"], props["ComparisonOperator"]) == (0, "GreaterThanThreshold")
    assert props["EvaluationPeriods"] == 1
    assert props["Period"] >= {"rate(1 hour)": 3600}[schedule]  # every audit falls in a period
    assert props["TreatMissingData"] == "notBreaching"
    assert props["AlarmActions"] == {"If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}


def emitted(action) -> set[tuple[str, tuple[str, ...]]]:  # type: ignore[no-untyped-def]
    output = io.StringIO()
    with redirect_stdout(output):
        action()
    found = set()
    for line in output.getvalue().splitlines():
        blob = json.loads(line)
        for directive in blob["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == NAMESPACE
            for metric in directive["Metrics"]:
                for dimensions in directive["Dimensions"]:
                    found.add((metric["Name"], tuple(sorted(dimensions))))
    return found


def test_the_code_emits_exactly_its_catalog(monkeypatch):
    monkeypatch.delenv("POWERTOOLS_METRICS_DISABLED", raising=False)
    entry = LedgerEntry(
        trace_id="gen-x",
        account_id="a",
        key_hash="h",
        key_prefix="sk-gw-abcd...",
        model="m",
        provider="p",
        endpoint="chat.completions",
        status="error",
        http_status=200,
        error_code="provider_error",
        prompt_tokens=1,
        completion_tokens=2,
        credits=3,
        reserved=4,
        latency_ms=5,
        upstream_latency_ms=6,
        ttft_ms=7,
        stream=True,
        usage_estimated=False,
        created_at="2026-11-22T00:00:00.000Z",
        day="2026-11-22",
    )
    observability._cold = True
    seen = emitted(lambda: observability.emit_request_metrics(entry))
    seen |= emitted(lambda: observability.emit_count("ErrorResponses", code="invalid_request"))
    seen |= emitted(observability.emit_cold_start)
    seen |= emitted(lambda: observability.emit_count("SweptReservations", 1))
    seen |= emitted(lambda: observability.emit_count("SweptCreditsMicro", 1))
    for name in ("AuditedAccounts", "LedgerDrift", "LedgerDriftMicro"):
        seen |= emitted(lambda name=name: observability.emit_count(name, 0))
    seen |= emitted(
        lambda: observability.emit_request_metrics(
            LedgerEntry(**{**entry.__dict__, "status": "success", "error_code": None, "http_status": 200})
        )
    )
    catalog = {(name, tuple(sorted(dims))) for name, sets in METRICS.items() for dims in sets}
    assert seen == catalog


def test_x_ray_never_records_a_response():
    """Given every function traces with Powertools (Tracing: Active), whose default records a traced
    handler's or method's return value as X-Ray metadata
    When the template configures the functions
    Then response capture is off for all of them (a created key's full text is such a return value)."""
    from devtools.template import load_template

    function_globals = load_template()["Globals"]["Function"]
    overrides = {
        name: variables["POWERTOOLS_TRACER_CAPTURE_RESPONSE"]
        for name, body in resources("AWS::Serverless::Function").items()
        if "POWERTOOLS_TRACER_CAPTURE_RESPONSE"
        in (variables := (body["Properties"].get("Environment") or {}).get("Variables") or {})
    }

    assert function_globals["Tracing"] == "Active"
    assert function_globals["Environment"]["Variables"].get("POWERTOOLS_TRACER_CAPTURE_RESPONSE") == "false"
    assert all(value == "false" for value in overrides.values()), overrides
