"""Hypothesis strategies: numeric fields of every inbound format with honest and hostile values,
upstream behaviours and DynamoDB faults.

A drawn value carries its verdict:
  reject  must be a 400 in the format's envelope before anything is held or sent upstream: out of the
          field's range, fractional for an integer, NaN or infinite, a boolean, a non-numeric string,
          a list or an object, null where the field is required
  honest  a valid number the test catalog's model can serve (`served` fields must answer 200)
  either  may be refused with a 400 or served as the number it stands for: numeric strings and
          integral floats ("100", 100.0), null for optional fields, integers above what the model
          serves but within the field's range (served only with a cap the hold priced)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from hypothesis import strategies as st

from tests.support.dynamo_faults import Fault, FaultKind
from tests.support.scripted import Behaviour, Ending

Verdict = Literal["reject", "honest", "either"]
INT32 = 2**31 - 1
INT64 = 2**63 - 1
MODEL_MAX_OUTPUT = 1000  # tests/fixtures/catalog.yaml: max_output_tokens of the chat models


@dataclass(frozen=True)
class NumericField:
    endpoint: str  # openai, anthropic, gemini, images, speech, embeddings
    path: str  # dotted, as the client writes it
    integer: bool
    low: float  # the field's valid range, inclusive
    high: float
    served_high: float  # honest values are drawn from [low, served_high]
    served: bool = True  # an honest value must be answered 200 (False: it depends on other fields)
    nullable: bool = True  # null means "not set"
    output_cap: bool = False  # it bounds the output (or the candidates) the hold must price

    def __repr__(self) -> str:  # how hypothesis prints a falsifying example
        return f"field_named({self.endpoint!r}, {self.path!r})"

    def __str__(self) -> str:
        return f"{self.endpoint}:{self.path}"


FIELDS: tuple[NumericField, ...] = (
    NumericField("openai", "max_tokens", True, 1, INT32, MODEL_MAX_OUTPUT, output_cap=True),
    NumericField("openai", "max_completion_tokens", True, 1, INT32, MODEL_MAX_OUTPUT, output_cap=True),
    NumericField("openai", "n", True, 1, 128, 3, output_cap=True),
    NumericField("openai", "top_logprobs", True, 0, 20, 20),
    NumericField("openai", "temperature", False, 0, 2, 2),
    NumericField("openai", "top_p", False, 0, 1, 1),
    NumericField("openai", "presence_penalty", False, -2, 2, 2),
    NumericField("openai", "frequency_penalty", False, -2, 2, 2),
    NumericField("openai", "seed", True, -(2**63), INT64, INT64),
    NumericField("anthropic", "max_tokens", True, 1, INT32, MODEL_MAX_OUTPUT, nullable=False, output_cap=True),
    NumericField("anthropic", "thinking.budget_tokens", True, 1024, INT32, 4096, served=False, nullable=False),
    NumericField("anthropic", "temperature", False, 0, 1, 1),
    NumericField("anthropic", "top_p", False, 0, 1, 1),
    NumericField("anthropic", "top_k", True, 0, INT32, 500),
    NumericField("gemini", "generationConfig.maxOutputTokens", True, 1, INT32, MODEL_MAX_OUTPUT, output_cap=True),
    NumericField("gemini", "generationConfig.candidateCount", True, 1, 8, 3, output_cap=True),
    NumericField("gemini", "generationConfig.thinkingConfig.thinkingBudget", True, -1, 32_768, 32_768),
    NumericField("gemini", "generationConfig.temperature", False, 0, 2, 2),
    NumericField("gemini", "generationConfig.topP", False, 0, 1, 1),
    NumericField("gemini", "generationConfig.topK", True, 1, INT32, 500),
    NumericField("gemini", "generationConfig.presencePenalty", False, -2, 2, 2),
    NumericField("gemini", "generationConfig.frequencyPenalty", False, -2, 2, 2),
    NumericField("gemini", "generationConfig.seed", True, -(2**31), INT32, INT32),
    NumericField("images", "n", True, 1, 128, 4),  # test/image serves up to 4 (media.max_images)
    NumericField("speech", "speed", False, 0.25, 4.0, 4.0),
    NumericField("embeddings", "dimensions", True, 1, 100_000, 1536),
)


def field_named(endpoint: str, path: str) -> NumericField:
    return next(f for f in FIELDS if f.endpoint == endpoint and f.path == path)


def values(spec: NumericField) -> st.SearchStrategy[tuple[Any, Verdict]]:
    """A value for the field with its verdict: honest, hostile (reject) or ambiguous (either)."""
    if spec.integer:
        honest: st.SearchStrategy[Any] = st.integers(int(spec.low), int(spec.served_high))
        above = st.integers(int(spec.high) + 1, 2**80) | st.sampled_from([int(spec.high) + 1, 2**31, 2**63, 2**64])
        above = above.filter(lambda v: v > spec.high)
        below = st.integers(-(2**80), int(spec.low) - 1) | st.sampled_from([int(spec.low) - 1, 0, -1, -2_000_000_000])
        below = below.filter(lambda v: v < spec.low)
        wrong = st.one_of(
            st.floats(allow_nan=False, allow_infinity=False).filter(lambda v: not v.is_integer()),
            st.sampled_from([0.5, 1.5, 999.9, -0.5, 1e300, math.nan, math.inf, -math.inf]),
        )
        either_values = st.one_of(
            st.integers(int(spec.low), int(spec.served_high)).map(str),
            st.integers(int(spec.low), int(spec.served_high)).map(float),
            st.integers(int(spec.served_high) + 1, int(spec.high)) if spec.served_high < spec.high else st.nothing(),
        )
    else:
        honest = st.floats(spec.low, spec.high, allow_nan=False, allow_infinity=False)
        above = st.floats(min_value=spec.high, exclude_min=True, allow_infinity=True, allow_nan=False)
        below = st.floats(max_value=spec.low, exclude_max=True, allow_infinity=True, allow_nan=False)
        wrong = st.just(math.nan)
        either_values = honest.map(str)
    hostile = st.one_of(
        below,
        above,
        wrong,
        st.booleans(),
        st.sampled_from(["", "ten", "1O", "0x10", "--1", "1e999"]),
        st.sampled_from([[], {}, [1], {"value": 1}, [int(spec.low)], {"": None}]),
    )
    cases = [honest.map(lambda v: (v, "honest")), hostile.map(lambda v: (v, "reject"))]
    if spec.nullable:
        cases.append(st.just((None, "either")))
    else:
        cases.append(st.just((None, "reject")))
    cases.append(either_values.map(lambda v: (v, "either")))
    return st.one_of(*cases)  # type: ignore[return-value]


def dangerous(spec: NumericField) -> st.SearchStrategy[Any]:
    """Values of an output cap that a careless estimate turns into a negative, zero or unbounded hold,
    then anything else that is not an honest value."""
    known = [int(spec.low) - 1, 0, -1, -2_000_000_000, int(spec.high) + 1, 2**63, True, 1.5, "7", None]
    others = values(spec).filter(lambda drawn: drawn[1] != "honest").map(lambda drawn: drawn[0])
    return st.one_of(st.sampled_from(known), others)


def place(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of `body` with `value` at the dotted `path` (objects created on the way)."""
    head, _, rest = path.partition(".")
    copy = dict(body)
    if rest:
        inner = copy.get(head)
        copy[head] = place(inner if isinstance(inner, dict) else {}, rest, value)
    else:
        copy[head] = value
    return copy


# ---------------------------------------------------------------- upstream behaviours and store faults

ENDINGS: tuple[Ending, ...] = ("complete", "cut", "error_event", "status", "stall", "timeout", "client_gone")
STREAM_ONLY = ("error_event", "client_gone")  # a buffered answer has no events and no middle to leave in


@st.composite
def behaviours(draw: st.DrawFn, stream: bool, ending: Ending | None = None) -> Behaviour:
    """How the upstream answers; `ending` fixed, or any the transport allows."""
    tokens = draw(st.integers(0, 12))
    usage = draw(st.sampled_from(["exact", "above", "below", "missing"]))
    skew = draw(st.integers(1, 3000)) if usage in ("above", "below") else 0
    if ending is None:
        ending = draw(st.sampled_from([e for e in ENDINGS if stream or e not in STREAM_ONLY]))
    after = draw(st.integers(0, tokens)) if ending in ("cut", "error_event", "stall", "client_gone") else 0
    status = draw(st.sampled_from([500, 429, 503])) if ending == "status" else 500
    return Behaviour(tokens=tokens, usage=usage, skew=skew, ending=ending, after=after, status=status)


# The DynamoDB calls of an inference request, in order: the key read (the key, then the key with its
# account's gate in one transaction), then the hold (one update of a balance shard), then the settlement.
HOT_PATH: dict[str, tuple[str, int]] = {
    "key read": ("GetItem", 1),
    "key and gate": ("TransactGetItems", 1),
    "reserve": ("UpdateItem", 1),
    "settle": ("TransactWriteItems", 1),
}
FAULT_KINDS: tuple[FaultKind, ...] = ("500", "throttle", "drop", "drop_after_commit")
EVERY_ATTEMPT = 4  # the DynamoDB client's MAX_ATTEMPTS: a fault on every retry reaches the gateway


def fault_at(call: str, times: int) -> st.SearchStrategy[Fault]:
    target, nth = HOT_PATH[call]
    return st.builds(Fault, st.just(target), st.just(nth), st.just(times), st.sampled_from(FAULT_KINDS))


@st.composite
def faults(draw: st.DrawFn) -> Fault | None:
    """None, or the nth DynamoDB call (of one operation or of any) failing once or on every retry."""
    if draw(st.booleans()):
        return None
    target = draw(st.sampled_from([None, "GetItem", "TransactGetItems", "UpdateItem", "TransactWriteItems"]))
    nth = draw(st.integers(1, {None: 4}.get(target, 1)))
    times = draw(st.sampled_from([1, EVERY_ATTEMPT]))
    return Fault(target, nth, times, draw(st.sampled_from(FAULT_KINDS)))


PROMPT_WORDS = ("alpha", "bravo", "charlie", "delta", "echoes", "foxtrot", "golfer", "hotel")


@st.composite
def prompts(draw: st.DrawFn) -> str:
    """Words of five letters or more, so a guess of four bytes per token never undercounts them."""
    return " ".join(draw(st.lists(st.sampled_from(PROMPT_WORDS), min_size=1, max_size=6)))
