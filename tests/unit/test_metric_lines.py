"""The gateway writes its EMF metric lines itself (gateway.observability.emf_line); each is exactly the
document Powertools' metric set would print for the same metrics and dimensions, and metrics stay
off where Powertools would keep them off."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.metrics import EphemeralMetrics

from gateway import observability
from gateway.observability import NAMESPACE, Metric, emf_line


def powertools_line(metrics: list[Metric], dimensions: dict[str, str]) -> dict[str, Any]:
    reference = EphemeralMetrics(namespace=NAMESPACE, service=observability.service())
    if dimensions:
        reference.add_dimensions(service=observability.service(), **dimensions)
    for name, unit, value in metrics:
        reference.add_metric(name=name, unit=unit, value=value)
    document: dict[str, Any] = reference.serialize_metric_set()
    return document


CASES = [
    ([("Requests", "Count", 1), ("Latency", "Milliseconds", 12), ("CreditsMicro", "Count", 1234)], {}),
    (
        [("Requests", "Count", 1), ("Errors", "Count", 1), ("TimeToFirstToken", "Milliseconds", 0)],
        {"model": "gpt-4o-mini", "provider": "openai"},
    ),
    ([("ErrorResponses", "Count", 1)], {"code": "invalid_request"}),
    ([("LedgerDriftMicro", "Count", 2.5)], {}),
]


@pytest.mark.parametrize(("metrics", "dimensions"), CASES)
def test_a_line_is_what_powertools_would_print(
    metrics: list[Metric], dimensions: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_SERVICE_NAME", "ai-gateway-test")
    ours, theirs = emf_line(metrics, dimensions), powertools_line(metrics, dimensions)
    assert abs(ours["_aws"].pop("Timestamp") - theirs["_aws"].pop("Timestamp")) < 1000
    assert json.dumps(ours) == json.dumps(theirs)  # the same keys, in the same order


@pytest.mark.parametrize(
    ("disabled", "dev", "printed"),
    [(None, None, True), ("true", None, False), ("false", "true", True), (None, "true", False), ("1", None, False)],
)
def test_metrics_are_off_where_powertools_keeps_them_off(
    disabled: str | None, dev: str | None, printed: bool, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    for name, value in (("POWERTOOLS_METRICS_DISABLED", disabled), ("POWERTOOLS_DEV", dev)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    observability.emit_count("ColdStart")
    lines = capsys.readouterr().out.splitlines()
    assert bool(lines) is printed
    if printed:
        assert json.loads(lines[0])["ColdStart"] == [1.0]
