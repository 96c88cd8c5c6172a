"""Every numeric field of every inbound format is bounded at the boundary (issue 11): a hostile value
answers 400 in the format's own envelope before anything is held or sent upstream; an honest one is
served, charged what the upstream reported, with the output cap the hold priced. Every example ends
with the ledger audit of its account."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.properties.checks import (
    CHAT,
    check_charged,
    check_envelope,
    check_output_bound,
    check_untouched,
    is_invalid_request,
)
from tests.properties.driver import Request, chat_request, run
from tests.properties.profiles import examples
from tests.properties.rig import Rig
from tests.properties.strategies import FIELDS, NumericField, place, values

pytestmark = pytest.mark.properties

CHAT_MODEL = {"openai": "test/echo", "anthropic": "test/claude", "gemini": "test/gemini"}


TOKEN_CAPS = ("max_tokens", "max_completion_tokens", "generationConfig.maxOutputTokens")


def boundary_request(spec: NumericField, value: Any, marker: str) -> Request:
    """A request honest in everything but the field under test; chat requests carry an honest output cap
    unless the field is one (requests without any are the books suite's business)."""
    text = f"hello there [[script:{marker}]]"
    if spec.endpoint in CHAT:
        base: dict[str, Any] = {}
        if spec.path not in TOKEN_CAPS:
            base = {"generationConfig": {"maxOutputTokens": 200}} if spec.endpoint == "gemini" else {"max_tokens": 200}
        if spec.path == "thinking.budget_tokens":
            base["thinking"] = {"type": "enabled"}
        if spec.path == "top_logprobs":
            base["logprobs"] = True
        request = chat_request(spec.endpoint, CHAT_MODEL[spec.endpoint], text, False, base)  # type: ignore[arg-type]
        return Request(request.endpoint, request.model, place(request.body, spec.path, value))
    body = {
        "images": {"model": "test/image", "prompt": text, "response_format": "b64_json"},
        "speech": {"model": "test/tts", "input": text, "voice": "alloy"},
        "embeddings": {"model": "test/embed", "input": text},
    }[spec.endpoint]
    return Request(spec.endpoint, body["model"], place(body, spec.path, value))  # type: ignore[arg-type]


@pytest.mark.parametrize("spec", FIELDS, ids=str)
@examples(7)
@given(data=st.data())
def test_every_numeric_field_is_bounded_at_the_boundary(rig: Rig, spec: NumericField, data: st.DataObject) -> None:
    value, verdict = data.draw(values(spec), label="value, verdict")
    example = run(rig, lambda marker: boundary_request(spec, value, marker))
    result = example.result
    body = result.json()
    if result.status != 200:
        check_envelope(spec.endpoint, result.status, body)
    if verdict == "reject":
        assert result.status == 400, f"{spec} = {value!r} answered {result.status}, not 400: {result.raw[:300]!r}"
    if verdict == "honest" and spec.served:
        assert result.status == 200, f"{spec} = {value!r} (servable) answered {result.status}: {result.raw[:300]!r}"
    if result.status == 400:
        assert is_invalid_request(spec.endpoint, body), f"a 400 that is not an invalid-request error: {body}"
        check_untouched(example)
    elif result.status == 200 and spec.endpoint in CHAT:
        check_charged(example)
        check_output_bound(example)
