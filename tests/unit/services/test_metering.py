"""The metered call, on a route of scripted candidates and a recording credit store: which candidate
answers, what each attempt leaves in the trace, what provider health learns, and what is settled."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anyio
import pytest

from gateway.billing.charges import Charge
from gateway.catalog.registry import ModelEntry, Pricing, ProviderCandidate, ProviderConfig
from gateway.errors import DeadlineExceeded, InvalidRequest, ProviderError, RateLimited, UpstreamRejected
from gateway.providers import health
from gateway.providers.credentials import Endpoint
from gateway.providers.errors import UpstreamFailure, UpstreamRefusal, UpstreamTimeout
from gateway.services.metering import Answered, Meter
from gateway.services.routing import Candidate, Route
from gateway.storage import stores
from gateway.storage.credits import LedgerEntry, Reservation
from tests.support.recording_stores import RecordingCredits, RecordingKeys, recording_stores

ENTRY = ModelEntry(
    id="t/model",
    display_name="model",
    owned_by="t",
    pricing=Pricing(input=Decimal(1)),
    providers=(ProviderCandidate(provider="a", model="m-a"), ProviderCandidate(provider="b", model="m-b")),
)
ROUTE = Route(
    ENTRY,
    tuple(
        Candidate(name, ProviderConfig(kind="openai", base_url_env="X"), f"m-{name}", Endpoint(f"http://{name}", None))
        for name in ("a", "b")
    ),
)
HOLD = Reservation("gen-1", "acct", "k" * 64, "sk-gw-k", ENTRY.id, 5_000, "2026-11-01T00:00:00Z", 2**31)


@pytest.fixture
def credits() -> Iterator[RecordingCredits]:
    recorded = RecordingCredits()
    stores.use(recording_stores(recorded, RecordingKeys()))
    health.reset()
    yield recorded
    stores.use(None)
    health.reset()


def script(*answers: Any) -> tuple[list[str], Any]:
    """A `send` that answers (or raises) in turn; and the providers it was called for."""
    asked: list[str] = []
    pending = list(answers)

    async def send(candidate: Candidate) -> Any:
        asked.append(candidate.provider)
        answer = pending.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        if answer == "sleep":
            await anyio.sleep(5)
        return answer

    return asked, send


def first_answer(meter: Meter, send: Any) -> Answered[Any]:
    return anyio.run(meter.first_answer, ROUTE, send)


def only(credits: RecordingCredits) -> tuple[LedgerEntry, list[dict[str, Any]]]:
    (settled,) = credits.settled
    return settled


def test_the_first_candidate_that_answers_is_charged_in_the_endpoints_units(credits: RecordingCredits) -> None:
    meter = Meter("images.generations", HOLD, time.monotonic())
    asked, send = script("answer")
    answered = first_answer(meter, send)
    assert (answered.candidate.provider, answered.answer, asked) == ("a", "answer", ["a"])
    charge = Charge(1_200, units={"images": 2})
    anyio.run(meter.settle, meter.served(answered.candidate, answered.asked_at, charge))
    entry, also = only(credits)
    assert (entry.endpoint, entry.provider, entry.status, entry.credits, entry.units) == (
        "images.generations",
        "a",
        "success",
        1_200,
        {"images": 2},
    )
    assert [(a["provider"], a["http_status"]) for a in entry.attempts] == [("a", 200)]
    assert also == []


def test_an_upstream_failure_hands_over_to_the_next_candidate_and_is_traced(credits: RecordingCredits) -> None:
    meter = Meter("embeddings", HOLD, time.monotonic())
    asked, send = script(UpstreamFailure("overloaded", status=503), "answer")
    answered = first_answer(meter, send)
    assert (answered.candidate.provider, asked) == ("b", ["a", "b"])
    assert [(a.provider, a.upstream_model, a.http_status, a.error_code) for a in meter.attempts] == [
        ("a", "m-a", 502, "provider_error"),
        ("b", "m-b", 200, None),
    ]
    assert credits.settled == []  # nothing settled until the answer is charged


def test_a_provider_that_keeps_failing_cools_down(credits: RecordingCredits) -> None:
    for _ in range(health.FAILURES_TO_COOL):
        first_answer(Meter("chat.completions", HOLD, time.monotonic()), script(UpstreamTimeout("slow"), "ok")[1])
    assert health.cooling("a")
    assert not health.cooling("b")


def test_a_refusal_of_the_request_is_not_retried_and_settles_nothing_charged(credits: RecordingCredits) -> None:
    meter = Meter("audio.speech", HOLD, time.monotonic())
    asked, send = script(UpstreamRefusal(400, "input too odd", param="input"))
    with pytest.raises(UpstreamRejected) as raised:
        first_answer(meter, send)
    assert (raised.value.status, raised.value.param, asked) == (400, "input", ["a"])
    entry, _ = only(credits)
    assert (entry.status, entry.http_status, entry.error_code, entry.credits) == ("error", 400, "invalid_request", 0)


def test_when_every_candidate_fails_the_last_failure_is_answered_and_nothing_charged(
    credits: RecordingCredits,
) -> None:
    meter = Meter("chat.completions", HOLD, time.monotonic(), also_when_failed=[{"Update": "task failed"}])
    _, send = script(UpstreamFailure("a down"), UpstreamFailure("b down", status=429, retry_after="3"))
    with pytest.raises(RateLimited) as raised:
        first_answer(meter, send)
    assert (raised.value.code, raised.value.headers) == ("provider_rate_limited", {"Retry-After": "3"})
    entry, also = only(credits)
    assert (entry.provider, entry.credits, [a["provider"] for a in entry.attempts]) == ("b", 0, ["a", "b"])
    assert also == [{"Update": "task failed"}]


def test_the_deadline_ends_the_call_and_nothing_is_charged(credits: RecordingCredits) -> None:
    meter = Meter("chat.completions", HOLD, time.monotonic(), deadline=time.monotonic() + 0.05)
    _, send = script("sleep")
    with pytest.raises(DeadlineExceeded):
        first_answer(meter, send)
    entry, _ = only(credits)
    assert (entry.http_status, entry.error_code, entry.credits) == (504, "deadline_exceeded", 0)


def test_an_unexpected_error_is_a_502_and_settled(credits: RecordingCredits) -> None:
    meter = Meter("chat.completions", HOLD, time.monotonic())
    _, send = script(KeyError("surprise"))
    with pytest.raises(ProviderError) as raised:
        first_answer(meter, send)
    assert raised.value.code == "interrupted"
    assert only(credits)[0].error_code == "interrupted"


def test_our_own_refusal_travels_on_untouched(credits: RecordingCredits) -> None:
    refusal = InvalidRequest("`logit_bias` is not supported.", param="logit_bias")
    with pytest.raises(InvalidRequest) as raised:
        first_answer(Meter("messages", HOLD, time.monotonic()), script(refusal)[1])
    assert raised.value is refusal


def test_a_served_stream_records_its_first_token_and_an_estimate(credits: RecordingCredits) -> None:
    started = time.monotonic() - 0.5
    meter = Meter("chat.completions", HOLD, started, stream=True)
    answered = first_answer(meter, script("stream")[1])
    charge = Charge(300, prompt_tokens=200, completion_tokens=100, estimated=True)
    cut = "client_disconnected"
    outcome = meter.served(answered.candidate, answered.asked_at, charge, error_code=cut, first_at=started + 0.25)
    assert (outcome.ttft_ms, outcome.stream, outcome.usage_estimated) == (250, True, True)
    anyio.run(meter.settle, outcome)
    entry, _ = only(credits)
    assert (entry.status, entry.prompt_tokens, entry.completion_tokens, entry.credits) == ("error", 200, 100, 300)
