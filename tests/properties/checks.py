"""The per-request properties, checked after the audit of every example. Each property is its own
`assert` statement, so hypothesis tells the failures apart and shrinks each to its own example."""

from __future__ import annotations

from typing import Any

from tests.properties.driver import Example
from tests.support.pricing import price_micro

CHAT = ("openai", "anthropic", "gemini")


def check_envelope(endpoint: str, status: int, body: Any) -> None:
    """An error answer in the envelope of the endpoint's format; never a bare 500."""
    assert status != 500, f"the gateway failed unexpectedly: {body}"
    assert _in_envelope(endpoint, status, body), f"not the {endpoint} error envelope: {status} {body}"


def _in_envelope(endpoint: str, status: int, body: Any) -> bool:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return False
    if endpoint == "anthropic":
        return body.get("type") == "error" and isinstance(error.get("type"), str)
    if endpoint == "gemini":
        return error.get("code") == status and isinstance(error.get("status"), str)
    return isinstance(error.get("type"), str)


def is_invalid_request(endpoint: str, body: Any) -> bool:
    if endpoint == "anthropic":
        return body["error"]["type"] == "invalid_request_error"
    if endpoint == "gemini":
        return body["error"]["status"] == "INVALID_ARGUMENT"
    return body["error"]["type"] == "invalid_request_error"


def check_untouched(example: Example) -> None:
    """Refused at the boundary: nothing held, nothing charged, nothing sent upstream."""
    assert not example.seen_upstream, "a refused request was sent upstream"
    assert example.entry is None, f"a request refused at the boundary left a ledger entry: {example.entry}"
    assert example.books.balance == example.granted, "a refused request moved money"


def check_charged(example: Example) -> None:
    """Every token the upstream reported for a request that reached it is charged, at the catalog's
    price rounded up once. Without a report, an answer that completed or delivered output is charged at
    least the prompt and the output the client received (the documented estimate: ~4 bytes a token);
    one that failed before any output, whatever it cost upstream, may be refunded. A request refused
    before the upstream call, or answered with an error, is charged nothing."""
    entry, result = example.entry, example.result
    assert len(example.books.entries) <= 1, f"one request, several ledger entries: {example.books.entries}"
    if example.result.trace_id is not None and entry is not None:
        assert entry["trace_id"] == result.trace_id, "the ledger entry is not the answered request's"
    if not example.records:
        assert entry is None or int(entry["credits"]) == 0, f"charged though it never reached the upstream: {entry}"
        return
    hold_refused = result.status in (401, 402, 403) or (
        result.status == 503 and any(call.injected for call in example.calls)  # the hold could not be written
    )
    if entry is None and hold_refused and not result.delivered:
        # A speculative request (services/speculation.py: its upstream call starts while its hold is
        # written) whose hold was refused or could not be written: the call was cancelled, nothing reached
        # the client and nothing moved; the operator's exposure is its prompt (docs/ARCHITECTURE.md).
        assert example.books.balance == example.granted, "a refused speculative request moved money"
        return
    assert entry is not None, "the request reached the upstream but left no ledger entry"
    reported = next((r.reported for r in example.records if r.reported is not None), None)
    charged = int(entry["credits"])
    if reported is not None:
        expected = price_micro(*reported)
        assert charged == expected, (
            f"the upstream reported {reported[0]} prompt + {reported[1]} output tokens, worth {expected}; "
            f"charged {charged} (held {entry['reserved']}, {entry['status']}, usage_estimated "
            f"{entry.get('usage_estimated')})"
        )
    elif result.status == 200 and (result.delivered or any(r.finished for r in example.records)):
        floor = price_micro(example.records[0].prompt_tokens, result.delivered)
        assert charged >= floor, (
            f"no usage reported; the client received {result.delivered} output tokens of a "
            f"{example.records[0].prompt_tokens}-token prompt, worth at least {floor}; charged {charged}"
        )
    elif result.status != 200:
        assert charged == 0, f"nothing reached the client and nothing was reported, yet charged {charged}"


def check_output_bound(example: Example) -> None:
    """The upstream received an output cap, and the hold covers every output token it allows (for
    each candidate asked for) on top of the prompt as the upstream counts it."""
    entry = example.entry
    for record in example.records:
        valid = [value for value in record.caps.values() if type(value) is int and value > 0]
        assert valid, f"the {record.provider} upstream received no output bound: {record.caps}"
        allowed = max(valid) * record.asked
        if entry is None:  # a refused speculative request (see check_charged): nothing held, nothing charged
            continue
        worth = price_micro(record.prompt_tokens, allowed)
        assert worth <= int(entry["reserved"]), (
            f"the {record.provider} upstream may write {allowed} output tokens ({record.caps} x {record.asked}), "
            f"worth {worth} with the prompt; the hold priced {entry['reserved']}"
        )
