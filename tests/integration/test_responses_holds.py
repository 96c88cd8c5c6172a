"""What a Responses request sends an OpenAI upstream is in its hold, whatever the canonical form leaves
out: OpenAI's encrypted reasoning items go upstream as sent, and OpenAI reads them back as input."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

import tests.support.fake_openai_responses as fake_responses
from gateway.billing.estimate import request_bytes
from tests.conftest import balance_of, ledger_entry
from tests.support.pricing import price_micro

GRANT = 10_000_000


def test_openai_reasoning_items_sent_upstream_are_held_and_charged_whole(
    gateway_url: str, upstream: Any, make_tenant: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    counted = fake_responses._texts

    def texts(value: Any) -> Any:  # the fake reads a reasoning item as the tokens it decrypts to (~4 bytes each)
        blob = value.get("encrypted_content") if isinstance(value, dict) and value.get("type") == "reasoning" else None
        if isinstance(blob, str):
            return [" ".join(blob[i : i + 4] for i in range(0, len(blob), 4))]
        return counted(value)

    monkeypatch.setattr(fake_responses, "_texts", texts)
    tenant = make_tenant("10")
    blob = "gAAAAB" + "x" * 200_000  # OpenAI's reasoning of a high-effort turn, as a client replays it
    body = {
        "model": "test/responses",
        "max_output_tokens": 16,
        "input": [
            {"role": "user", "content": "weather in Paris?"},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": blob},
            {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
        ],
    }
    answer = httpx.post(
        f"{gateway_url}/v1/responses", json=body, headers={"Authorization": f"Bearer {tenant.key}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    sent = upstream.requests[-1]
    assert sent["input"][1]["encrypted_content"] == blob
    usage = answer.json()["usage"]
    assert usage["input_tokens"] > 50_000
    entry = ledger_entry(answer.headers["x-trace-id"])
    assert entry is not None
    owed = price_micro(usage["input_tokens"], usage["output_tokens"])
    assert entry["reserved"] >= price_micro(request_bytes(sent["input"]), 16)  # all the input OpenAI reads
    assert entry["credits"] == owed
    assert balance_of(tenant.account_id) == GRANT - owed
