"""Powertools Logger, Tracer and Metrics, created on first use (cold start stays lean)."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Tracer
    from aws_lambda_powertools.metrics import EphemeralMetrics

    from gateway.storage.credits import LedgerEntry

SERVICE = "ai-gateway"
NAMESPACE = "AIGateway"


@lru_cache(maxsize=1)
def logger() -> Logger:
    from aws_lambda_powertools import Logger

    return Logger(service=SERVICE)


@lru_cache(maxsize=1)
def tracer() -> Tracer:
    from aws_lambda_powertools import Tracer

    return Tracer(service=SERVICE)


def request_metrics() -> EphemeralMetrics:
    """Metrics of one request: no state shared between concurrent requests, flushed at its end."""
    from aws_lambda_powertools.metrics import EphemeralMetrics

    return EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)


def emit_request_metrics(entry: LedgerEntry) -> None:
    """CloudWatch EMF for one settled request (dimensions: model, provider)."""
    from aws_lambda_powertools.metrics import MetricUnit

    metrics = request_metrics()
    metrics.add_dimension(name="model", value=entry.model)
    metrics.add_dimension(name="provider", value=entry.provider or "none")
    metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Errors" if entry.status != "success" else "Successes", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="Latency", unit=MetricUnit.Milliseconds, value=entry.latency_ms)
    if entry.upstream_latency_ms is not None:
        metrics.add_metric(name="UpstreamLatency", unit=MetricUnit.Milliseconds, value=entry.upstream_latency_ms)
    if entry.ttft_ms is not None:
        metrics.add_metric(name="TimeToFirstToken", unit=MetricUnit.Milliseconds, value=entry.ttft_ms)
    metrics.add_metric(name="PromptTokens", unit=MetricUnit.Count, value=entry.prompt_tokens)
    metrics.add_metric(name="CompletionTokens", unit=MetricUnit.Count, value=entry.completion_tokens)
    metrics.add_metric(name="CreditsMicro", unit=MetricUnit.Count, value=entry.credits)
    metrics.flush_metrics()
