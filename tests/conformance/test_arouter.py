"""ARouter (arouter-api.txt): the OpenAI-compatible endpoint with `provider/model` ids, streaming,
Anthropic's and Gemini's native endpoints (curl, and the anthropic and google-genai SDKs), models,
embeddings, and key management with a management key."""

from __future__ import annotations

import json

import anthropic
import httpx
from google import genai
from google.genai import types

from tests.conformance.replay import Seed, check_transcribed, sse_events
from tests.conftest import ledger_entry

SEED = Seed(
    page="arouter-api.txt",
    base_url="https://api.arouter.ai",
    key_placeholders=("lr_live_xxxx", "lr_mgmt_xxxx"),
    examples={
        "openai_endpoint": """curl https://api.arouter.ai/v1/chat/completions \\
  -H "Authorization: Bearer lr_live_xxxx" \\
  -H "Content-Type: application/json" \\
  -d '{
    "model": "openai/gpt-5.4",
    "messages": [{"role": "user", "content": "Hello!"}]
  }'""",
        "switch_provider": """curl https://api.arouter.ai/v1/chat/completions \\
  -H "Authorization: Bearer lr_live_xxxx" \\
  -H "Content-Type: application/json" \\
  -d '{
    "model": "anthropic/claude-sonnet-4.6",
    "messages": [{"role": "user", "content": "Hello!"}]
  }'""",
        "streaming": """curl https://api.arouter.ai/v1/chat/completions \\
  -H "Authorization: Bearer lr_live_xxxx" \\
  -H "Content-Type: application/json" \\
  -N \\
  -d '{
    "model": "openai/gpt-5.4",
    "messages": [{"role": "user", "content": "寫一首詩。"}],
    "stream": true
  }'""",
        "anthropic_endpoint": """curl https://api.arouter.ai/v1/messages \\
  -H "X-Api-Key: lr_live_xxxx" \\
  -H "Content-Type: application/json" \\
  -H "anthropic-version: 2023-06-01" \\
  -d '{
    "model": "claude-sonnet-4.6",
    "max_tokens": 1024,
    "messages": [{"role": "user", "content": "Hello!"}]
  }'""",
        "gemini_endpoint": """curl "https://api.arouter.ai/v1beta/models/gemini-2.5-flash:generateContent?key=lr_live_xxxx" \\
  -H "Content-Type: application/json" \\
  -d '{
    "contents": [{"parts": [{"text": "Hello!"}]}]
  }'""",
        "models": """curl https://api.arouter.ai/v1/models \\
  -H "Authorization: Bearer lr_live_xxxx\"""",
        "embeddings": """curl https://api.arouter.ai/v1/embeddings \\
  -H "Authorization: Bearer lr_live_xxxx" \\
  -H "Content-Type: application/json" \\
  -d '{
    "model": "openai/text-embedding-3-small",
    "input": "The quick brown fox"
  }'""",
        "create_key": """curl -X POST https://api.arouter.ai/api/v1/keys \\
  -H "Authorization: Bearer lr_mgmt_xxxx" \\
  -H "Content-Type: application/json" \\
  -d '{
    "name": "backend-service",
    "allowed_providers": ["openai", "anthropic"],
    "limit": 150,
    "limit_reset": "monthly"
  }'""",
        "list_keys": """curl https://api.arouter.ai/api/v1/keys \\
  -H "Authorization: Bearer lr_mgmt_xxxx\"""",
        "update_key": """curl -X PATCH https://api.arouter.ai/api/v1/keys/KEY_HASH \\
  -H "Authorization: Bearer lr_mgmt_xxxx" \\
  -H "Content-Type: application/json" \\
  -d '{"disabled": true}'""",
        "delete_key": """curl -X DELETE https://api.arouter.ai/api/v1/keys/KEY_HASH \\
  -H "Authorization: Bearer lr_mgmt_xxxx\"""",
    },
)


def test_the_examples_are_the_pages_own():
    check_transcribed(SEED)


def upstream_model_of(response: httpx.Response) -> str:
    entry = ledger_entry(response.headers["x-trace-id"])
    assert entry is not None
    return f"{entry['provider']}:{entry['attempts'][-1]['upstream_model']}"


def test_openai_compatible_endpoint(seed_gateway, user):
    answer = SEED.curl("openai_endpoint", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "echo: Hello!"
    assert upstream_model_of(answer) == "openai:gpt-5.4"


def test_switching_provider_through_the_openai_endpoint(seed_gateway, user):
    answer = SEED.curl("switch_provider", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "echo: Hello!"
    assert upstream_model_of(answer) == "anthropic:claude-sonnet-4-6"


def test_streaming(seed_gateway, user):
    answer = SEED.curl("streaming", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    events = sse_events(answer.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]).strip() == (
        "echo: 寫一首詩。"
    )


def assert_message(message: dict) -> None:  # type: ignore[type-arg]
    assert (message["type"], message["role"]) == ("message", "assistant")
    assert message["content"] == [{"type": "text", "text": "echo: Hello!"}]
    assert message["stop_reason"] == "end_turn"
    assert message["usage"]["input_tokens"] > 0
    assert message["usage"]["output_tokens"] > 0


def test_anthropic_native_endpoint(seed_gateway, user, fake_servers):
    answer = SEED.curl("anthropic_endpoint", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    assert_message(answer.json())
    assert fake_servers["anthropic"].requests[-1]["model"] == "claude-sonnet-4-6"
    assert fake_servers["anthropic"].requests[-1]["max_tokens"] == 1024


def test_anthropic_native_endpoint_through_the_anthropic_sdk(seed_gateway, user):
    client = anthropic.Anthropic(base_url=seed_gateway, api_key=user.key, max_retries=0)
    message = client.messages.create(
        model="claude-sonnet-4.6", max_tokens=1024, messages=[{"role": "user", "content": "Hello!"}]
    )
    assert_message(message.model_dump(exclude_none=True))


def test_gemini_native_endpoint_with_the_key_in_the_url(seed_gateway, user, fake_servers):
    answer = SEED.curl("gemini_endpoint", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["candidates"][0]["content"]["parts"][0]["text"] == "echo: Hello!"
    assert body["usageMetadata"]["totalTokenCount"] > 0
    assert fake_servers["gemini"].requests[-1][0] == "gemini-2.5-flash:generateContent"


def test_gemini_native_endpoint_through_google_genai(seed_gateway, user):
    client = genai.Client(api_key=user.key, http_options=types.HttpOptions(base_url=seed_gateway))
    answer = client.models.generate_content(model="gemini-2.5-flash", contents="Hello!")
    assert answer.text == "echo: Hello!"


def test_models(seed_gateway, user):
    answer = SEED.curl("models", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    ids = {model["id"] for model in answer.json()["data"]}
    assert {"openai/gpt-5.4", "anthropic/claude-sonnet-4.6", "openai/text-embedding-3-small"} <= ids


def test_embeddings(seed_gateway, user, openai_upstream):
    answer = SEED.curl("embeddings", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["object"] == "list"
    (item,) = body["data"]
    assert (item["object"], item["index"], item["embedding"]) == ("embedding", 0, [0.1, 0.2, 0.3])
    assert body["usage"]["prompt_tokens"] == 4
    assert openai_upstream.chat.requests[-1] == {"model": "text-embedding-3-small", "input": "The quick brown fox"}


def test_key_management_with_a_management_key(seed_gateway, user):
    created = SEED.curl("create_key", seed_gateway, user.management)
    assert created.status_code == 201, created.text
    new_key, record = created.json()["key"], created.json()["data"]
    assert (record["name"], record["allowed_providers"]) == ("backend-service", ["anthropic", "openai"])
    assert (record["limit"], record["limit_reset"]) == (150, "monthly")
    chat = {"messages": [{"role": "user", "content": "Hello!"}]}
    headers = {"Authorization": f"Bearer {new_key}"}
    allowed = httpx.post(
        f"{seed_gateway}/v1/chat/completions", json={**chat, "model": "openai/gpt-5.4"}, headers=headers
    )
    assert allowed.status_code == 200, allowed.text
    gemini = httpx.post(
        f"{seed_gateway}/v1/chat/completions", json={**chat, "model": "gemini-2.5-flash"}, headers=headers
    )
    assert (gemini.status_code, gemini.json()["error"]["code"]) == (403, "model_not_allowed")

    listed = SEED.curl("list_keys", seed_gateway, user.management)
    assert record["hash"] in {key["hash"] for key in listed.json()["data"]}
    assert new_key not in listed.text  # never the key itself

    updated = SEED.curl("update_key", seed_gateway, user.management, KEY_HASH=record["hash"])
    assert updated.json()["data"]["disabled"] is True
    refused = httpx.post(f"{seed_gateway}/v1/chat/completions", json={**chat, "model": "gpt-4o"}, headers=headers)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "api_disabled")

    deleted = SEED.curl("delete_key", seed_gateway, user.management, KEY_HASH=record["hash"])
    assert deleted.json() == {"data": {"hash": record["hash"], "deleted": True}}
    gone = httpx.post(f"{seed_gateway}/v1/chat/completions", json={**chat, "model": "gpt-4o"}, headers=headers)
    assert gone.status_code == 401


def test_an_inference_key_cannot_manage_keys_here(seed_gateway, user):
    """ARouter's key API is for management keys (lr_mgmt_...)."""
    refused = SEED.curl("create_key", seed_gateway, user.key)
    assert (refused.status_code, refused.json()["error"]["code"]) == (403, "forbidden")
