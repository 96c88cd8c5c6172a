"""PotatoRouter (potatorouter-api.txt): chat (and its stream format), images without a model, audio,
models, the account, tokens managed with the user's own key, usage with a model filter, and its
error table, through curl and the openai SDK."""

from __future__ import annotations

import io
import json
import wave
from datetime import UTC, datetime

import httpx
import openai
import pytest

from tests.conformance.replay import Seed, check_transcribed, sse_events
from tests.conftest import aggregated, balance_of, ledger_entry

SEED = Seed(
    page="potatorouter-api.txt",
    base_url="https://api.potatorouter.com",
    key_placeholders=("YOUR_API_KEY",),
    examples={
        "chat": """curl -X POST https://api.potatorouter.com/v1/chat/completions \\
  -H "Authorization: Bearer YOUR_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{
    "model": "gpt-4o",
    "messages": [{"role": "user", "content": "PotatoRouter平台有什么优势?"}]
  }'""",
        "images": """curl -X POST https://api.potatorouter.com/v1/images/generations \\
  -H "Authorization: Bearer YOUR_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{"prompt": "一只水獭在溪流中嬉戏", "n": 1, "size": "1024x1024"}'""",
        "models": """curl -X GET https://api.potatorouter.com/v1/models -H "Authorization: Bearer YOUR_API_KEY\"""",
        "user_self": """curl -X GET https://api.potatorouter.com/api/user/self -H "Authorization: Bearer YOUR_API_KEY\"""",
        "quota_answer": """{
  "quota": 12500,
  "used": 7500,
  "total": 20000
}""",
        "create_token": """curl -X POST https://api.potatorouter.com/api/token \\
  -H "Authorization: Bearer YOUR_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{"name": "我的应用"}'""",
        "usage": """curl -X GET "https://api.potatorouter.com/api/usage?start_date=2026-03-01&end_date=2026-03-31" \\
  -H "Authorization: Bearer YOUR_API_KEY\"""",
    },
)


def test_the_examples_are_the_pages_own():
    check_transcribed(SEED)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_chat(seed_gateway, user, openai_upstream):
    answer = SEED.curl("chat", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "echo: PotatoRouter平台有什么优势?"}
    assert openai_upstream.chat.requests[-1]["model"] == "gpt-4o"


@pytest.mark.parametrize(
    ("model", "provider", "upstream_model"),
    [
        ("gpt-4o", "openai", "gpt-4o"),
        ("claude-3.5-sonnet", "anthropic", "claude-3-5-sonnet-20241022"),
        ("deepseek-chat", "deepseek", "deepseek-chat"),
    ],
)
def test_the_documented_model_ids(seed_gateway, user, model, provider, upstream_model):
    """`model`: "模型ID,如 gpt-4o, claude-3.5-sonnet, deepseek-chat"."""
    answer = httpx.post(
        f"{seed_gateway}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        headers=auth(user.key),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    entry = ledger_entry(answer.headers["x-trace-id"])
    assert entry is not None
    assert (entry["provider"], entry["attempts"][0]["upstream_model"]) == (provider, upstream_model)


def test_streaming_response_format(seed_gateway, user):
    """流式响应示例: `data: {"id", "object": "chat.completion.chunk", "choices": [{"delta": {"content"}, "index"}]}`
    lines, then `data: [DONE]`."""
    answer = httpx.post(
        f"{seed_gateway}/v1/chat/completions",
        json={
            "model": "gpt-4o",
            "stream": True,
            "messages": [{"role": "user", "content": "PotatoRouter平台有什么优势?"}],
        },
        headers=auth(user.key),
        timeout=30,
    )
    events = sse_events(answer.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    for chunk in chunks:
        assert chunk["id"]
        assert chunk["object"] == "chat.completion.chunk"
        assert chunk["choices"][0]["index"] == 0
    assert (
        "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks).strip()
        == "echo: PotatoRouter平台有什么优势?"
    )


def test_image_generation_without_a_model(seed_gateway, user, openai_upstream):
    """The example names no model: the catalog's default image model (DALL·E 3) draws it, at once."""
    answer = SEED.curl("images", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert isinstance(body["created"], int)
    (image,) = body["data"]
    assert image["url"].startswith("http")
    assert openai_upstream.images.requests[-1] == {
        "model": "dall-e-3",
        "prompt": "一只水獭在溪流中嬉戏",
        "n": 1,
        "size": "1024x1024",
        "quality": "standard",
    }  # fmt: skip  (the quality it is charged for, which the example leaves out)
    entry = ledger_entry(answer.headers["x-trace-id"])
    assert entry is not None
    assert (entry["model"], entry["credits"]) == ("openai/dall-e-3", 40_000)  # DALL·E 3 standard 1024x1024


def wav(seconds: float = 0.5) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(b"\x00\x00" * int(8000 * seconds))
    return buffer.getvalue()


def test_audio_transcription_is_whisper_compatible(seed_gateway, user):
    client = openai.OpenAI(api_key=user.key, base_url=f"{seed_gateway}/v1", max_retries=0)
    transcript = client.audio.transcriptions.create(model="whisper-1", file=("otter.wav", wav()))
    assert transcript.text == "hello from otter.wav"


def test_text_to_speech_is_tts_compatible(seed_gateway, user):
    client = openai.OpenAI(api_key=user.key, base_url=f"{seed_gateway}/v1", max_retries=0)
    speech = client.audio.speech.create(model="tts-1", voice="alloy", input="你好", response_format="wav")
    assert speech.content.startswith(b"RIFF")
    assert speech.response.headers["content-type"] == "audio/wav"


def test_models_list(seed_gateway, user):
    answer = SEED.curl("models", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    listed = answer.json()
    assert listed["object"] == "list"
    by_name = {name: model for model in listed["data"] for name in (model["id"], *model["aliases"])}
    for name in ("gpt-4o", "claude-3.5-sonnet", "deepseek-chat", "whisper-1", "tts-1", "dall-e-3"):
        assert by_name[name]["object"] == "model", name


def test_account_info(seed_gateway, user):
    answer = SEED.curl("user_self", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    me = answer.json()
    assert (me["username"], me["email"], me["role"]) == ("Seed user", "user@example.com", "inference")


def test_quota(seed_gateway, user):
    quota = httpx.get(f"{seed_gateway}/api/user/self/quota", headers=auth(user.key), timeout=30).json()
    assert set(quota) == set(json.loads(SEED.examples["quota_answer"]))
    assert (quota["quota"], quota["used"], quota["total"]) == (100, 0, 100)


def test_tokens_with_the_users_own_key(seed_gateway, user):
    created = SEED.curl("create_token", seed_gateway, user.key)
    assert created.status_code == 200, created.text
    token = created.json()["data"]
    assert (created.json()["success"], token["name"]) == (True, "我的应用")
    new_key = token["key"]
    chat = httpx.post(
        f"{seed_gateway}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        headers=auth(new_key),
        timeout=30,
    )
    assert chat.status_code == 200, chat.text
    # GET /api/token: my tokens; DELETE /api/token/:id revokes one
    listed = httpx.get(f"{seed_gateway}/api/token", headers=auth(user.key), timeout=30).json()
    assert {t["name"] for t in listed["data"]} == {"default", "我的应用"}
    revoked = httpx.delete(f"{seed_gateway}/api/token/{token['id']}", headers=auth(user.key), timeout=30)
    assert revoked.json() == {"success": True, "message": ""}
    assert httpx.get(f"{seed_gateway}/v1/models", headers=auth(new_key), timeout=30).status_code == 401


def test_usage_with_a_date_range_and_a_model_filter(seed_gateway, user):
    answer = SEED.curl("usage", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["date_from"], answer.json()["date_to"]) == ("2026-03-01", "2026-03-31")
    spent = [
        httpx.post(
            f"{seed_gateway}/v1/chat/completions",
            json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
            headers=auth(user.key),
            timeout=30,
        )
        for model in ("gpt-4o", "gpt-4o", "deepseek-chat")
    ]
    aggregated()  # usage is added from the ledger's stream
    today = datetime.now(UTC).date().isoformat()
    filtered = httpx.get(
        f"{seed_gateway}/api/usage",
        params={"start_date": today, "end_date": today, "model": "gpt-4o"},
        headers=auth(user.key),
        timeout=30,
    ).json()
    gpt_4o = [ledger_entry(r.headers["x-trace-id"]) for r in spent[:2]]
    assert filtered["total_requests"] == 2
    assert filtered["total_credits_micro"] == sum(e["credits"] for e in gpt_4o if e)
    assert [row["model"] for row in filtered["by_model"]] == ["openai/gpt-4o"]


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("invalid key", 401, "invalid_api_key"),
        ("no credits", 402, "insufficient_credits"),  # PotatoRouter: 403 insufficient_quota
        ("unknown model", 404, "model_not_found"),
        ("too many requests", 429, "rate_limit_exceeded"),
    ],
)
def test_the_error_table(seed_gateway, user, case, status, code):
    from gateway.services import accounts, keys

    key = user.key
    model = "gpt-4o"
    if case == "invalid key":
        key = "sk-gw-invalid-key-000000000000000"
    elif case == "no credits":
        key = keys.issue_key(accounts.create_account("poor", 0).account_id, "k", "inference").key
    elif case == "unknown model":
        model = "gpt-nonexistent"
    else:
        key = keys.issue_key(user.account_id, "slow", "inference", rate_limit=1).key
        httpx.post(
            f"{seed_gateway}/v1/chat/completions",
            json={"model": model, "messages": [{"role": "user", "content": "first"}]},
            headers=auth(key),
            timeout=30,
        )
    before = balance_of(user.account_id)
    answer = httpx.post(
        f"{seed_gateway}/v1/chat/completions",
        json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
        headers=auth(key),
        timeout=30,
    )
    assert answer.status_code == status, answer.text
    assert answer.json()["error"]["code"] == code
    assert balance_of(user.account_id) == before
    if status == 429:
        assert int(answer.headers["retry-after"]) > 0
