"""An image model's prompt is priced at its `input` price (gpt-image-1 and Gemini's image models bill
the prompt's tokens with the images): held at a token a byte for each image, charged as the provider
reported it, else at that bound for each image made."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import balance_of, ledger_entry
from tests.support.control import AdminApi, eventually, operator, unique

__all__ = ["operator"]

GRANT = 10_000_000
PROMPT = "an otter in a top hat, " * 100  # 2,300 bytes
IMAGE = 40_000  # micro-credits an image (0.04)
INPUT = 5  # micro-credits a prompt token (5 credits per 1M)


@contextlib.contextmanager
def image_model(operator: AdminApi, upstream_model: str) -> Iterator[str]:
    model = unique("ops/gpt-image")
    operator.post("/models", {
        "id": model, "display_name": model, "owned_by": "ops", "category": "image",
        "pricing": {"input": str(INPUT), "image": {"*": "0.04"}}, "media": {"sizes": ["1024x1024"], "max_images": 4},
        "providers": [{"provider": "fake-images", "model": upstream_model}],
    })  # fmt: skip
    try:
        yield model
    finally:
        operator.delete(f"/models/{model}")


@pytest.mark.parametrize(("upstream_model", "prompt_tokens"), [("image-usage", 7), ("image-fake", 2 * len(PROMPT))])
def test_an_image_models_prompt_is_held_and_charged_at_its_input_price(
    gateway_url, upstream, fake_servers, make_tenant, operator, upstream_model, prompt_tokens
):
    tenant = make_tenant("10")
    headers = {"Authorization": f"Bearer {tenant.key}"}
    with image_model(operator, upstream_model) as model:
        eventually(lambda: httpx.get(f"{gateway_url}/v1/models/{model}", headers=headers).status_code == 200)
        made = httpx.post(
            f"{gateway_url}/v1/images/generations",
            json={"model": model, "prompt": PROMPT, "n": 2, "response_format": "b64_json"},
            headers=headers,
            timeout=20,
        )
    assert made.status_code == 200, made.text
    entry = ledger_entry(made.headers["x-trace-id"])
    assert entry is not None
    assert entry["reserved"] == 2 * IMAGE + 2 * len(PROMPT) * INPUT  # each image's call may send the prompt
    assert entry["credits"] == 2 * IMAGE + prompt_tokens * INPUT
    assert balance_of(tenant.account_id) == GRANT - entry["credits"]
