"""The ledger against what the books suite does not generate (review of the property suite):

- an upstream whose usage is hostile: counts negative, fractional, strings, booleans, null, missing,
  huge (beyond the hold, beyond DynamoDB's 38 digits); each of the three upstream kinds, buffered and
  streamed, from every inbound format;
- a settlement that keeps failing after the answer went out, past the settlement's own retries (the
  charge kept on a pending item, then settled by the sweeper), the pending record failing too;
- concurrent requests of one account whose credits cover only some of them, every request with its
  own ending.

Every example ends with the ledger audit of its account (tests/properties/audit.py) before and after
the sweeper: the invariants are checked on the balance shards and ledger entries as DynamoDB holds
them, never on the gateway's own intermediate values.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import Phase, event, given, note, settings
from hypothesis import strategies as st

from gateway.billing.sweeper import sweep_expired
from gateway.money import credits_to_micro
from gateway.providers import health
from gateway.services import accounts, keys
from tests.properties.audit import audit_account, past_every_hold
from tests.properties.checks import CHAT, check_charged, check_envelope
from tests.properties.driver import CHAT_MODELS, IDLE_TIMEOUT, Example, Result, chat_request, run, send
from tests.properties.profiles import examples
from tests.properties.rig import Rig
from tests.properties.strategies import EVERY_ATTEMPT, prompts
from tests.support.dynamo_faults import Fault
from tests.support.pricing import price_micro
from tests.support.scripted import SCRIPT, Behaviour

pytestmark = pytest.mark.properties

UPSTREAM_OF = {"test/echo": "openai", "test/claude": "anthropic", "test/gemini": "gemini"}
MISSING = object()  # the count is left out of the usage object


# ---------------------------------------------------------------- hostile upstream usage


def valid(count: Any) -> bool:
    """A count the ledger may take at its word: a whole number, not negative (JSON has no int/bool
    distinction for Python's `True`, but the wire does: `true` is not a count)."""
    return type(count) is int and count >= 0


good_counts = st.one_of(
    st.integers(0, 3000),  # honest-looking: below, at or above the visible output
    st.integers(0, 3000),
    st.integers(10**6, 10**12),  # more than any hold covers
    st.sampled_from([2**31, 2**63]),  # sums of these stay within 38 digits
)
BEYOND_38_DIGITS = (10**38 + 1, 2**127 + 1, 10**39 + 7)  # DynamoDB numbers keep 38 significant digits
bad_counts = st.one_of(
    st.integers(-(2**63), -1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([True, False, None, "12", "", "-3", [], {}, [5], 7.0, 0.5, -0.0]),
    st.just(MISSING),
)
present = st.one_of(  # a count that is there, valid or not
    good_counts,
    st.integers(-(2**63), -1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([True, None, "12", [], {}, 0.5]),
)
REQUIRED = {  # the counts a reading needs, by upstream
    "openai": ("prompt_tokens", "completion_tokens"),
    "anthropic": ("input_tokens", "output_tokens"),
    "gemini": ("promptTokenCount", "candidatesTokenCount"),
}
OPTIONAL = {
    "openai": (),
    "anthropic": ("cache_read_input_tokens", "cache_creation_input_tokens"),
    "gemini": ("thoughtsTokenCount",),
}


@dataclass(frozen=True)
class WireUsage:
    """A usage object in the upstream's shape, and what an honest reading of it is: (prompt,
    completion) when every count it has is valid, else None (no usable report)."""

    upstream: str
    wire: dict[str, Any]
    reading: tuple[int, int] | None


@st.composite
def wire_usages(draw: st.DrawFn, upstream: str, hostile: bool, digits: bool = False) -> WireUsage:
    """`hostile`: at least one count is not a whole number >= 0 (or is missing); else all are (and
    may be far above anything the request could produce); `digits`: one of them beyond 38 digits."""
    names = [*REQUIRED[upstream], *(n for n in OPTIONAL[upstream] if draw(st.booleans(), label=f"with {n}"))]
    values = {name: draw(good_counts, label=name) for name in names}
    if digits:
        values[draw(st.sampled_from(names), label="huge")] = draw(st.sampled_from(BEYOND_38_DIGITS))
    if hostile:
        for name in draw(st.lists(st.sampled_from(names), min_size=1, unique=True), label="hostile counts"):
            values[name] = draw(bad_counts, label=f"hostile {name}")
    wire = {name: value for name, value in values.items() if value is not MISSING}
    if upstream == "openai" and draw(st.booleans()):  # cached above the prompt: part of it, never more
        wire["prompt_tokens_details"] = {"cached_tokens": draw(present, label="cached_tokens")}
    if upstream == "gemini" and draw(st.booleans()):  # a total inconsistent with its parts
        wire["totalTokenCount"] = draw(present, label="totalTokenCount")
    reading: tuple[int, int] | None = None
    if not hostile:
        if upstream == "openai":
            reading = (values["prompt_tokens"], values["completion_tokens"])
        elif upstream == "anthropic":
            prompt = sum(values[n] for n in ("input_tokens", *OPTIONAL["anthropic"]) if n in values)
            reading = (prompt, values["output_tokens"])
        else:
            reading = (values["promptTokenCount"], values["candidatesTokenCount"] + values.get("thoughtsTokenCount", 0))
    return WireUsage(upstream, wire, reading)


@dataclass(frozen=True)
class HostileUsage:
    endpoint: str
    model: str
    stream: bool
    max_tokens: int
    prompt: str
    tokens: int
    usage: WireUsage


@st.composite
def hostile_usages(draw: st.DrawFn, model: str, hostile: bool | str, digits: bool = False) -> HostileUsage:
    if hostile == "missing":
        return draw(lacking_usages(model))
    return HostileUsage(
        endpoint=draw(st.sampled_from(CHAT)),
        model=model,
        stream=draw(st.booleans()),
        max_tokens=draw(st.integers(1, 1000)),
        prompt=draw(prompts()),
        tokens=draw(st.integers(0, 12)),
        usage=draw(wire_usages(UPSTREAM_OF[model], hostile, digits)),
    )


@st.composite
def lacking_usages(draw: st.DrawFn, model: str) -> HostileUsage:
    """An honest report (the prompt's words, the output's tokens) lacking one of its two counts."""
    upstream, prompt, tokens = UPSTREAM_OF[model], draw(prompts()), draw(st.integers(1, 12))
    honest = dict(zip(REQUIRED[upstream], (len(prompt.split()) + 1, tokens), strict=True))  # + the marker
    del honest[draw(st.sampled_from(REQUIRED[upstream]), label="missing")]
    return HostileUsage(
        endpoint=draw(st.sampled_from(CHAT)),
        model=model,
        stream=draw(st.booleans()),
        max_tokens=draw(st.integers(12, 1000)),
        prompt=prompt,
        tokens=tokens,
        usage=WireUsage(upstream, honest, None),
    )


def cap_field(endpoint: str, value: int) -> dict[str, Any]:
    return {"generationConfig.maxOutputTokens": value} if endpoint == "gemini" else {"max_tokens": value}


def check_hostile_usage(example: Example, usage: WireUsage) -> None:
    """What the upstream's usage object may move: a valid report is charged what it is worth, up to
    the hold; an unusable one is no report at all (charged at least the prompt and what reached the
    client, as check_charged's rule for a missing report)."""
    result, entry = example.result, example.entry
    if result.status != 200:
        check_envelope(example.request.endpoint, result.status, result.json())
    assert example.records, f"never reached the upstream: {result.status} {result.raw[:200]!r}"
    assert entry is not None, "the request reached the upstream but left no ledger entry"
    charged, held = int(entry["credits"]), int(entry["reserved"])
    prompt = example.records[0].prompt_tokens
    note(f"charged {charged} of a {held} hold; {usage.wire} read as {usage.reading}; delivered {result.delivered}")
    if usage.reading is not None:
        worth = price_micro(*usage.reading)
        assert charged == min(worth, held), (
            f"the upstream reported {usage.reading}, worth {worth}; the hold was {held}: charged {charged}"
        )
    elif result.status == 200:
        floor = price_micro(prompt, result.delivered)
        assert charged >= floor, (
            f"an unusable usage report {usage.wire}: the client received {result.delivered} output tokens of a "
            f"{prompt}-token prompt, worth at least {floor}; charged {charged}"
        )


@pytest.mark.parametrize("model", CHAT_MODELS)
@examples(12)
@given(data=st.data())
def test_an_upstream_reporting_any_valid_usage_is_charged_its_worth_up_to_the_hold(
    rig: Rig, model: str, data: st.DataObject
) -> None:
    """Counts far above the cap, the hold, or 38 digits: charged the whole hold, never nothing."""
    play_usage(rig, data.draw(hostile_usages(model, hostile=False), label="case"))


@pytest.mark.parametrize("model", CHAT_MODELS)
@settings(examples(6), phases=(Phase.explicit, Phase.generate))
@given(data=st.data())
def test_an_upstream_reporting_usage_beyond_38_digits_is_charged_the_hold(
    rig: Rig, model: str, data: st.DataObject
) -> None:
    play_usage(rig, data.draw(hostile_usages(model, hostile=False, digits=True), label="case"))


@pytest.mark.parametrize(
    "model",
    [
        "test/echo",
        "test/claude",  # read as zero by its reader before (a negative or missing count: its prompt unpaid)
        "test/gemini",
    ],
)
@examples(12)
@given(data=st.data())
def test_an_upstream_reporting_unusable_usage_is_charged_as_if_it_reported_none(
    rig: Rig, model: str, data: st.DataObject
) -> None:
    """Negative, fractional, boolean, string, null or missing counts are no report: never read as
    zero, nor as a smaller number than the output the client received."""
    play_usage(rig, data.draw(hostile_usages(model, hostile=True), label="case"))


@pytest.mark.parametrize(
    "model",
    [
        "test/echo",
        "test/claude",  # read as zero by its reader before (a negative or missing count: its prompt unpaid)
        "test/gemini",  # Google leaves a zero count out: a missing one was read as 0 even after output went out
    ],
)
@examples(8)
@given(data=st.data())
def test_an_upstream_usage_lacking_a_count_is_no_report(rig: Rig, model: str, data: st.DataObject) -> None:
    """A usage object without its prompt or its output count (output was sent): not a count of zero."""
    play_usage(rig, data.draw(hostile_usages(model, hostile="missing"), label="case"))


def scripted_request(case: Any) -> Any:
    """The case's chat request, its prompt marked for the upstream's script."""
    return lambda marker: chat_request(
        case.endpoint, case.model, f"{case.prompt} [[script:{marker}]]", case.stream,
        cap_field(case.endpoint, case.max_tokens),
    )  # fmt: skip


def play_usage(rig: Rig, case: HostileUsage) -> None:
    behaviour = Behaviour(tokens=case.tokens, usage="exact", wire_usage=tuple(case.usage.wire.items()))
    example = run(
        rig,
        scripted_request(case),
        behaviour=behaviour,
    )
    check_hostile_usage(example, case.usage)


# ---------------------------------------------------------------- a settlement that keeps failing

SETTLE_ATTEMPTS = 3  # billing.credits.settle_durably
PAST_THE_RETRIES = SETTLE_ATTEMPTS * EVERY_ATTEMPT  # every TransactWriteItems of every settle() attempt


@dataclass(frozen=True)
class Lasting:
    endpoint: str
    model: str
    stream: bool
    max_tokens: int
    prompt: str
    behaviour: Behaviour
    fault: Fault


@st.composite
def lasting_failures(draw: st.DrawFn) -> Lasting:
    """The settlement's transaction failing on every retry of every attempt (and some more), or from
    its first attempt to somewhere in its retries; the answer itself complete or cut by the upstream."""
    times = draw(st.sampled_from([PAST_THE_RETRIES, PAST_THE_RETRIES + 4, 2 * EVERY_ATTEMPT, EVERY_ATTEMPT + 1]))
    kind = draw(st.sampled_from(["500", "throttle", "drop", "drop_after_commit"]))
    endpoint = draw(st.sampled_from(CHAT))
    return Lasting(
        endpoint=endpoint,
        model=draw(st.sampled_from(CHAT_MODELS)),
        stream=draw(st.booleans()),
        max_tokens=draw(st.integers(1, 1000)),
        prompt=draw(prompts()),
        behaviour=Behaviour(
            tokens=draw(st.integers(0, 12)),
            usage=draw(st.sampled_from(["exact", "above", "below", "missing"])),
            skew=draw(st.integers(1, 3000)),
        ),
        fault=Fault("TransactWriteItems", 1, times, kind),  # type: ignore[arg-type]
    )


@examples(16)
@given(case=lasting_failures())
def test_a_settlement_failing_past_its_retries_is_charged_by_the_sweeper(rig: Rig, case: Lasting) -> None:
    """The answer went out; every settlement attempt failed (or committed and lost its answer): the
    charge kept on the pending item is what the sweeper charges, never a refund of the whole hold,
    never a second charge."""
    example = run(
        rig,
        scripted_request(case),
        behaviour=case.behaviour,
        fault=case.fault,
    )
    note(f"calls: {[(c.operation, c.injected) for c in example.calls]}")
    event(f"pending charge recorded: {any(c.operation == 'PutItem' for c in example.calls)}")
    event(f"usage reported: {any(r.reported is not None for r in example.records)}")
    assert example.result.status == 200, f"a settlement failing after the answer changed the answer: {example.result}"
    check_charged(example)


@settings(examples(6), phases=(Phase.explicit, Phase.generate))
@given(case=lasting_failures())
def test_a_store_failing_for_good_after_the_answer_still_charges_it(rig: Rig, case: Lasting) -> None:
    """DynamoDB fails every call from the settlement on (the pending record's too): the answer went
    out, the tokens were produced. The charge goes on the unsettled queue (SQS), which the sweeper
    applies before it gives any hold back."""
    example = run(
        rig,
        scripted_request(case),
        behaviour=Behaviour(tokens=5, usage="exact"),
        fault=Fault("TransactWriteItems", 1, 10_000, "500", onward=True),  # the settlement's, then all
    )
    assert example.result.status == 200, example.result
    assert example.result.delivered, example.result
    assert any(call.operation == "PutItem" and call.injected for call in example.calls), "no pending record failed"
    check_charged(example)


# ---------------------------------------------------------------- concurrency


@dataclass(frozen=True)
class Crowd:
    credits: str
    requests: tuple[tuple[str, str, bool, int, Behaviour], ...]  # endpoint, model, stream, max_tokens, behaviour


@st.composite
def crowds(draw: st.DrawFn) -> Crowd:
    requests = draw(
        st.lists(
            st.tuples(
                st.sampled_from(CHAT),
                st.sampled_from(CHAT_MODELS),
                st.booleans(),
                st.integers(1, 400),
                st.builds(
                    Behaviour,
                    tokens=st.integers(0, 12),
                    usage=st.sampled_from(["exact", "above", "below", "missing"]),
                    skew=st.integers(1, 3000),
                    ending=st.sampled_from(["complete", "complete", "cut", "status", "error_event"]),
                    after=st.integers(0, 3),
                ),
            ).map(lambda r: r if r[2] or r[4].ending != "error_event" else (*r[:4], Behaviour(tokens=r[4].tokens))),
            min_size=3,
            max_size=6,
        )
    )
    # from enough for about one of them to plenty (speculative holds: SPECULATE_COVER times over)
    credits = draw(st.sampled_from(["0.0008", "0.0015", "0.0015", "0.003", "10"]))
    return Crowd(credits, tuple(requests))


@examples(12)
@given(crowd=crowds())
def test_concurrent_requests_never_overdraw_or_lose_money(rig: Rig, crowd: Crowd) -> None:
    """Requests of one account at once: the audit holds, the balance never goes below zero, and what
    was charged is never more than was granted; each request is charged at most once, what its
    upstream reported (up to its hold), and a request refused for its credits is charged nothing."""
    granted = credits_to_micro(crowd.credits)
    account = accounts.create_account("crowd", granted)
    key = keys.issue_key(account.account_id, "crowd", "inference").key
    for fake in rig.fakes.values():
        fake.reset()
    health.reset()
    markers = [SCRIPT.plan(behaviour) for *_, behaviour in crowd.requests]
    results: list[Result | None] = [None] * len(markers)
    start = threading.Barrier(len(markers))

    def one(index: int) -> None:
        endpoint, model, stream, max_tokens, _ = crowd.requests[index]
        request = chat_request(
            endpoint,  # type: ignore[arg-type]
            model,
            f"alpha bravo charlie [[script:{markers[index]}]]",
            stream,
            cap_field(endpoint, max_tokens),
        )
        start.wait(10)
        results[index] = send(rig, request, key)

    threads = [threading.Thread(target=one, args=(index,)) for index in range(len(markers))]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        idle = rig.gateway.wait_idle(IDLE_TIMEOUT)
    finally:
        for marker in markers:
            SCRIPT.release(marker)
    try:
        assert idle, "the gateway was still working long after its clients were done"
        audit_account(account.account_id, granted, swept=False)
        sweep_expired(now=past_every_hold())
        books = audit_account(account.account_id, granted, swept=True)
        assert books.charges <= granted, f"charged {books.charges} of {granted} granted"
        statuses = sorted(result.status for result in results if result is not None)
        event(f"answered {statuses.count(200)} of {len(statuses)}; refused for credits: {statuses.count(402)}")
        for index, result in enumerate(results):
            assert result is not None, "a client never finished"
            records = SCRIPT.records(markers[index])
            entry = books.entry(result.trace_id) if result.trace_id else None
            note(f"{crowd.requests[index]}: {result.status}, delivered {result.delivered}, entry {entry}")
            if result.status not in (0, 200):
                check_envelope(crowd.requests[index][0], result.status, result.json())
            if result.status == 402:
                assert entry is None or int(entry["credits"]) == 0, f"refused for its credits, charged: {entry}"
            reported = next((r.reported for r in records if r.reported is not None), None)
            if entry is not None and reported is not None:
                worth = price_micro(*reported)
                assert int(entry["credits"]) == min(worth, int(entry["reserved"])), (
                    f"reported {reported}, worth {worth}; charged {entry['credits']} of {entry['reserved']}"
                )
    finally:
        for marker in markers:
            SCRIPT.forget(marker)
