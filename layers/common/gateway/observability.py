"""Powertools Logger and Tracer, created on first use (cold start stays lean), and CloudWatch metrics
in the Embedded Metric Format.

`METRICS` is the catalog of what the code emits (namespace, names, dimension sets): the dashboard
and alarms in template.yaml may reference only these, and a test holds them to it.

A request's metric line is written here, in exactly the form Powertools' EMF serializer gives it (a
test compares the two): Powertools' per-request metric set (EphemeralMetrics: its construction, a
validation per metric, the serializer) cost ~95 us of every request's CPU, this ~15 us.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Tracer

    from gateway.storage.credits import LedgerEntry

NAMESPACE = "AIGateway"
BY_SERVICE = ("service",)
BY_MODEL = ("service", "model", "provider")
BY_PROVIDER = ("service", "provider")
BY_CODE = ("service", "code")

_PER_REQUEST = (BY_SERVICE, BY_MODEL)
METRICS: dict[str, tuple[tuple[str, ...], ...]] = {
    "Requests": _PER_REQUEST,
    "Successes": _PER_REQUEST,
    "Errors": _PER_REQUEST,
    "Latency": _PER_REQUEST,
    "UpstreamLatency": _PER_REQUEST,
    "TimeToFirstToken": _PER_REQUEST,
    "PromptTokens": _PER_REQUEST,
    "CompletionTokens": _PER_REQUEST,
    "CreditsMicro": _PER_REQUEST,
    "UpstreamErrors": (BY_SERVICE, BY_PROVIDER),
    "ErrorResponses": (BY_SERVICE, BY_CODE),
    "ColdStart": (BY_SERVICE,),
    "SweptReservations": (BY_SERVICE,),
    "SweptCreditsMicro": (BY_SERVICE,),
    "AuditedAccounts": (BY_SERVICE,),
    "LedgerDrift": (BY_SERVICE,),  # accounts whose balance or ledger entries disagree
    "LedgerDriftMicro": (BY_SERVICE,),
}
UPSTREAM_ERROR_CODES = frozenset({"provider_error", "provider_timeout", "provider_rate_limited"})
_cold = True


def service() -> str:
    return os.environ.get("POWERTOOLS_SERVICE_NAME") or "ai-gateway"


@lru_cache(maxsize=1)
def logger() -> Logger:
    from aws_lambda_powertools import Logger

    return Logger(service=service())


@lru_cache(maxsize=1)
def tracer() -> Tracer:
    from aws_lambda_powertools import Tracer

    return Tracer(service=service())


Metric = tuple[str, str, float]  # name, unit (CloudWatch's name: Count, Milliseconds), value


def emf_line(metrics: list[Metric], dimensions: dict[str, str]) -> dict[str, Any]:
    """One EMF document: `metrics` under the `service` dimension and, when `dimensions` are given,
    under service + them too (standard resolution)."""
    named = {"service": service()}
    sets = [["service"]]
    if dimensions:
        named.update(dimensions)
        sets.append(["service", *dimensions])
    return {
        "_aws": {
            "Timestamp": int(time.time() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": sets,
                    "Metrics": [{"Name": name, "Unit": unit} for name, unit, _ in metrics],
                }
            ],
        },
        **named,
        **{name: [float(value)] for name, _, value in metrics},
    }


def _publish(metrics: list[Metric], dimensions: dict[str, str]) -> None:
    """To stdout, where Lambda's log stream carries it to CloudWatch (as Powertools' flush does), unless
    metrics are disabled (POWERTOOLS_METRICS_DISABLED, or POWERTOOLS_DEV without it)."""
    if _metrics_disabled():
        return
    print(json.dumps(emf_line(metrics, dimensions), separators=(",", ":")))


def _metrics_disabled() -> bool:
    disabled = os.environ.get("POWERTOOLS_METRICS_DISABLED")
    if disabled is not None:
        return _true(disabled)
    return _true(os.environ.get("POWERTOOLS_DEV", "false"))


def _true(value: str) -> bool:
    return value.strip().lower() in ("1", "y", "yes", "t", "true", "on")


def emit_request_metrics(entry: LedgerEntry) -> None:
    """CloudWatch EMF for one settled request."""
    metrics: list[Metric] = [
        ("Requests", "Count", 1),
        ("Successes" if entry.status == "success" else "Errors", "Count", 1),
        ("Latency", "Milliseconds", entry.latency_ms),
    ]
    if entry.upstream_latency_ms is not None:
        metrics.append(("UpstreamLatency", "Milliseconds", entry.upstream_latency_ms))
    if entry.ttft_ms is not None:
        metrics.append(("TimeToFirstToken", "Milliseconds", entry.ttft_ms))
    metrics.append(("PromptTokens", "Count", entry.prompt_tokens))
    metrics.append(("CompletionTokens", "Count", entry.completion_tokens))
    metrics.append(("CreditsMicro", "Count", entry.credits))
    _publish(metrics, {"model": entry.model, "provider": entry.provider or "none"})
    if entry.error_code in UPSTREAM_ERROR_CODES:
        emit_count("UpstreamErrors", provider=entry.provider or "none")
    if entry.error_code and entry.http_status == 200:  # failed after the stream started: no error response
        emit_count("ErrorResponses", code=entry.error_code)


def in_lambda() -> bool:
    return bool(os.environ.get("LAMBDA_TASK_ROOT"))


def traced() -> bool:
    """Whether X-Ray records this invocation: in Lambda, and its trace header says Sampled=1. Unsampled
    invocations never load the X-Ray SDK (~170 ms of a cold start: it imports botocore's session)."""
    return in_lambda() and "Sampled=1" in os.environ.get("_X_AMZN_TRACE_ID", "")


@asynccontextmanager
async def upstream_subsegment(provider: str, model: str, *, stream: bool) -> AsyncIterator[None]:
    """An X-Ray subsegment around the upstream call, when the invocation is traced.
    Annotated with provider and model, never with the prompt."""
    if not traced():
        yield
        return
    # Begun and ended by hand: the SDK's own context manager records a failure's text (str(error)),
    # which may be an upstream's error quoting the prompt; only the failure's kind is recorded here
    recorder: Any = tracer().provider  # the X-Ray SDK's recorder
    subsegment = recorder.begin_subsegment(f"## upstream {provider}")
    try:
        if subsegment is not None:
            subsegment.put_annotation("provider", provider)
            subsegment.put_annotation("model", model)
            subsegment.put_annotation("stream", stream)
        yield
    except BaseException as error:
        if subsegment is not None:
            subsegment.put_annotation("failure", type(error).__name__)
            subsegment.add_fault_flag()
        raise
    finally:
        recorder.end_subsegment()


@contextmanager
def aws_subsegment(service: str, operation: str, *, detached: bool = False, **aws: str) -> Iterator[None]:
    """An X-Ray subsegment for a call to an AWS service made without botocore (which the SDK would
    patch), named and described as the SDK names its own: `service`, namespace aws, the operation.
    `detached` (a greenlet on the loop): kept off the thread's entity stack, which other greenlets and
    tasks push and pop meanwhile, and closed by identity."""
    if not traced():
        yield
        return
    if detached:
        import traceback

        from aws_xray_sdk.core.models.subsegment import Subsegment

        recorder: Any = tracer().provider  # the X-Ray SDK's recorder (Powertools' default provider)
        segment = recorder.current_segment()
        subsegment = Subsegment(service, "aws", segment)
        segment.add_subsegment(subsegment)
        subsegment.set_aws({"operation": operation, **aws})
        try:
            yield
        except BaseException as error:
            subsegment.add_exception(error, traceback.extract_tb(error.__traceback__))
            raise
        finally:
            subsegment.close()
            recorder.stream_subsegments()
        return
    with tracer().provider.in_subsegment(service, namespace="aws") as subsegment:
        subsegment.set_aws({"operation": operation, **aws})  # type: ignore[attr-defined]  # an X-Ray SDK Subsegment
        yield


def adopt_trace_header(header: str | None) -> None:
    """Behind the Lambda Web Adapter each invocation's X-Ray trace arrives as `x-amzn-trace-id`; the
    X-Ray SDK reads it from `_X_AMZN_TRACE_ID`. One invocation at a time per environment."""
    if header and in_lambda():
        os.environ["_X_AMZN_TRACE_ID"] = header


def emit_count(name: str, value: float = 1, **dimensions: str) -> None:
    _publish([(name, "Count", value)], dimensions)


def emit_cold_start() -> None:
    """Once per process: the first request after a cold start."""
    global _cold
    if _cold:
        _cold = False
        emit_count("ColdStart")
