"""Legacy text completions (`POST /v1/completions`, the openai SDK's `client.completions`) for the models
whose catalog entry lists `completions`, passed through to their OpenAI-compatible upstream: charged
exactly their usage, told so in `usage.cost`, held for every completion the upstream makes."""

from __future__ import annotations

from decimal import Decimal

import openai
import pytest

from tests.conftest import balance_of, ledger_entry
from tests.integration.test_runtime_catalog import model_spec
from tests.support.control import eventually, operator, unique
from tests.support.pricing import price_micro

__all__ = ["operator"]

GRANT = 10_000_000


def sdk(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=20)


def test_a_completion_is_charged_its_usage(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    raw = sdk(gateway_url, tenant.key).completions.with_raw_response.create(model="test/instruct", prompt="hello there")
    completion = raw.parse()
    assert completion.choices[0].text == "echo: hello there"
    entry = ledger_entry(raw.headers["x-trace-id"])
    assert entry is not None
    assert (entry["endpoint"], entry["prompt_tokens"], entry["completion_tokens"]) == ("completions", 2, 3)
    assert entry["credits"] == price_micro(2, 3)
    assert Decimal(str(completion.usage.model_extra["cost"])) * 1_000_000 == entry["credits"]  # type: ignore[union-attr]
    assert balance_of(tenant.account_id) == GRANT - entry["credits"]
    # OpenAI's default of 16 tokens, when the client names none, is what the upstream is allowed
    assert upstream.requests[-1]["max_tokens"] == 16


def test_a_streamed_completion_ends_with_its_usage_and_cost(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    chunks = list(
        sdk(gateway_url, tenant.key).completions.create(
            model="test/instruct", prompt="stream this", stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(choice.text for chunk in chunks for choice in chunk.choices)
    assert text.strip() == "echo: stream this"
    usage = chunks[-1].usage
    assert usage is not None
    spent = GRANT - balance_of(tenant.account_id)
    assert spent == price_micro(usage.prompt_tokens, usage.completion_tokens)
    assert Decimal(str(usage.model_extra["cost"])) * 1_000_000 == spent


def test_the_hold_covers_every_completion_best_of_makes(gateway_url, upstream, make_tenant):
    # Given an account that can pay for one completion of 1,000 tokens but not for twenty
    tenant = make_tenant("0.01")
    client = sdk(gateway_url, tenant.key)
    with pytest.raises(openai.APIStatusError) as caught:
        client.completions.create(model="test/instruct", prompt="hi", max_tokens=1000, best_of=20)
    assert caught.value.status_code == 402
    assert client.completions.create(model="test/instruct", prompt="hi", max_tokens=1000).choices


def test_a_batch_of_prompts_is_held_for_the_completions_of_each_and_charged_them_all(
    gateway_url, upstream, make_tenant
):
    # Given an account that can pay for one completion of 1,000 tokens but not for twenty: a batch of
    # twenty prompts gets twenty completions from the upstream, each up to max_tokens
    tenant = make_tenant("0.01")
    client = sdk(gateway_url, tenant.key)
    for prompt in (["hi"] * 20, [[17, 18]] * 20):
        with pytest.raises(openai.APIStatusError) as caught:
            client.completions.create(model="test/instruct", prompt=prompt, max_tokens=1000)
        assert caught.value.status_code == 402
    assert balance_of(tenant.account_id) == 10_000
    # A batch it can pay for is served a completion per prompt, and charged for every one
    raw = client.completions.with_raw_response.create(model="test/instruct", prompt=["hello there", "and you"])
    completion = raw.parse()
    assert [choice.text for choice in completion.choices] == ["echo: hello there", "echo: and you"]
    entry = ledger_entry(raw.headers["x-trace-id"])
    assert entry is not None
    assert (entry["prompt_tokens"], entry["completion_tokens"]) == (4, 6)
    assert entry["credits"] == price_micro(4, 6) == 10_000 - balance_of(tenant.account_id)


def test_a_model_that_does_not_complete_text_is_a_400(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(gateway_url, tenant.key).completions.create(model="test/echo", prompt="hi")
    assert caught.value.body["param"] == "model"  # type: ignore[index]
    assert balance_of(tenant.account_id) == GRANT


@pytest.mark.parametrize(("field", "value"), [("max_tokens", 0), ("best_of", 21), ("logprobs", 6), ("n", True)])
def test_hostile_numbers_are_a_400_that_moves_no_credit(gateway_url, upstream, make_tenant, field, value):
    tenant = make_tenant("10")
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(gateway_url, tenant.key).completions.create(model="test/instruct", prompt="hi", **{field: value})
    assert caught.value.body["param"] == field  # type: ignore[index]
    assert balance_of(tenant.account_id) == GRANT
    assert upstream.requests == []


def test_best_of_without_usage_is_charged_for_the_completions_the_upstream_made(
    gateway_url, upstream, make_tenant, operator
):
    """An upstream that reports no usage is charged a covering estimate; with `best_of` it made (and
    bills) completions it did not return, each counted at the output cap."""
    model_id = unique("test/instruct-no-usage")
    spec = {**model_spec(model_id, upstream="no-usage"), "capabilities": ["completions"]}
    operator.post("/models", spec)
    try:
        client = sdk(gateway_url, make_tenant("10").key)
        eventually(lambda: any(model.id == model_id for model in client.models.list()))  # the catalog reached it
        raw = client.completions.with_raw_response.create(model=model_id, prompt="hi", max_tokens=50, best_of=4)
        entry = ledger_entry(raw.headers["x-trace-id"])
        assert entry is not None
        assert entry["usage_estimated"] is True
        returned = len(raw.parse().choices[0].text.encode())
        assert entry["completion_tokens"] == returned + 3 * 50
    finally:
        operator.http.delete(f"/api/admin/models/{model_id}")
