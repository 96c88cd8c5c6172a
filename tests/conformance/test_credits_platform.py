"""The credits platform (credits-platform-api.txt), whose base URL is /api/v1: its model list, chat
completions (curl and the openai SDK its Node example uses), image generation answered as a task,
and every error code it lists, in its envelope (`type` equal to `code`)."""

from __future__ import annotations

import time

import httpx
import openai
import pytest

from tests.conformance.replay import Seed, check_transcribed
from tests.conftest import balance_of
from tests.support.fake_images import PNG

SEED = Seed(
    page="credits-platform-api.txt",
    base_url="https://your-domain.com",
    key_placeholders=("$YOUR_API_KEY", "process.env.YOUR_API_KEY"),
    examples={
        "models": """curl https://your-domain.com/api/v1/models \\
  -H "Authorization: Bearer $YOUR_API_KEY\"""",
        "models_answer": """{
  "object": "list",
  "data": [
    {
      "id": "openai/gpt-5",
      "object": "model",
      "owned_by": "openrouter",
      "display_name": "GPT-5",
      "category": "chat",
      "capabilities": ["chat", "reasoning"],
      "credit_cost": 3
    }
  ]
}""",
        "chat": """curl https://your-domain.com/api/v1/chat/completions \\
  -H "Authorization: Bearer $YOUR_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{
    "model": "openai/gpt-5",
    "messages": [
      { "role": "user", "content": "写一首关于 API 的俳句。" }
    ]
  }'""",
        "node_sdk": """const client = new OpenAI({
  apiKey: process.env.YOUR_API_KEY,
  baseURL: 'https://your-domain.com/api/v1',
});

const completion = await client.chat.completions.create({
  model: 'openai/gpt-5',
  messages: [{ role: 'user', content: '写一首关于 API 的俳句。' }],
});

console.log(completion.choices[0]?.message?.content);""",
        "images": """curl https://your-domain.com/api/v1/images/generations \\
  -H "Authorization: Bearer $YOUR_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{
    "model": "google/nano-banana-pro",
    "prompt": "一个机器人在阅读 API 文档的电影感照片",
    "size": "1024x1024"
  }'""",
        "images_answer": """{
  "created": 1710000000,
  "data": [],
  "task_id": "local-task-id",
  "provider_task_id": "provider-task-id",
  "status": "pending",
  "model": "google/nano-banana-pro"
}""",
        "error_answer": """{
  "error": {
    "message": "Model is not available",
    "type": "model_not_available",
    "code": "model_not_available"
  }
}""",
    },
)
HAIKU = [{"role": "user", "content": "写一首关于 API 的俳句。"}]


def test_the_examples_are_the_pages_own():
    check_transcribed(SEED)


def documented(name: str) -> dict:  # type: ignore[type-arg]
    import json

    return json.loads(SEED.examples[name])  # type: ignore[no-any-return]


def test_models(seed_gateway, user):
    answer = SEED.curl("models", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    listed = answer.json()
    assert listed["object"] == "list"
    by_id = {model["id"]: model for model in listed["data"]}
    (example,) = documented("models_answer")["data"]
    for model in listed["data"]:
        assert set(model) >= set(example), model["id"]
        assert isinstance(model["credit_cost"], float), model["id"]
        assert model["credit_cost"] > 0, model["id"]
    gpt_5 = by_id["openai/gpt-5"]
    assert (gpt_5["object"], gpt_5["display_name"], gpt_5["category"]) == ("model", "GPT-5", "chat")
    assert {"chat", "reasoning"} <= set(gpt_5["capabilities"])
    assert (gpt_5["credit_cost"], gpt_5["credit_unit"]) == (10.0, "1M output tokens")
    banana = by_id["google/nano-banana-pro"]
    assert (banana["category"], banana["credit_cost"], banana["credit_unit"]) == ("image", 0.15, "image")


def test_chat(seed_gateway, user, openai_upstream):
    answer = SEED.curl("chat", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "echo: 写一首关于 API 的俳句。"
    assert openai_upstream.chat.requests[-1]["model"] == "gpt-5"
    assert balance_of(user.account_id) < 100_000_000  # it consumed credits


def test_node_sdk_example_through_the_openai_sdk(seed_gateway, user):
    """The Node example, as the Python openai SDK writes it: base URL /api/v1."""
    client = openai.OpenAI(api_key=user.key, base_url=SEED.adapt("https://your-domain.com/api/v1", seed_gateway, ""))
    completion = client.chat.completions.create(model="openai/gpt-5", messages=HAIKU)  # type: ignore[arg-type]
    assert completion.choices[0].message.content == "echo: 写一首关于 API 的俳句。"


def test_image_generation_answers_a_task_that_completes(seed_gateway, user, fake_servers):
    answer = SEED.curl("images", seed_gateway, user.key)
    assert answer.status_code == 202, answer.text
    task = answer.json()
    assert set(task) == set(documented("images_answer"))
    assert (task["data"], task["status"], task["model"]) == ([], "pending", "google/nano-banana-pro")
    assert isinstance(task["created"], int)
    assert task["task_id"]
    assert task["provider_task_id"]
    headers = {"Authorization": f"Bearer {user.key}"}
    deadline = time.monotonic() + 20
    while True:  # the platform's task pipeline: poll it
        polled = httpx.get(f"{seed_gateway}/api/v1/images/tasks/{task['task_id']}", headers=headers).json()
        if polled["status"] != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert polled["status"] == "succeeded", polled
    assert httpx.get(polled["data"][0]["url"]).content == PNG
    target, _ = fake_servers["gemini"].requests[-1]
    assert target == "gemini-3-pro-image-preview:generateContent"
    # 0.15 credits an image, and its prompt at 2 credits per 1M tokens (a token a byte: Gemini reports none)
    prompt = "一个机器人在阅读 API 文档的电影感照片"
    assert balance_of(user.account_id) == 100_000_000 - 150_000 - 2 * len(prompt.encode())


def test_the_openai_sdk_reads_the_task_too(seed_gateway, user):
    client = openai.OpenAI(api_key=user.key, base_url=f"{seed_gateway}/api/v1", max_retries=0)
    answer = client.images.generate(model="google/nano-banana-pro", prompt="一个机器人", size="1024x1024")
    assert answer.data == []
    task = answer.model_extra or {}
    assert task["status"] == "pending"
    headers = {"Authorization": f"Bearer {user.key}"}
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # worked before the next test
        polled = httpx.get(f"{seed_gateway}/api/v1/images/tasks/{task['task_id']}", headers=headers).json()
        if polled["status"] != "pending":
            break
        time.sleep(0.1)
    assert polled["status"] == "succeeded"


def chat(gateway: str, key: str, body: dict) -> httpx.Response:  # type: ignore[type-arg]
    return httpx.post(f"{gateway}/api/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"})


def image(gateway: str, key: str, body: dict) -> httpx.Response:  # type: ignore[type-arg]
    return httpx.post(f"{gateway}/api/v1/images/generations", json=body, headers={"Authorization": f"Bearer {key}"})


@pytest.mark.parametrize(
    ("code", "status"),
    [
        ("invalid_api_key", 401),
        ("api_disabled", 403),
        ("model_required", 400),
        ("model_not_available", 404),
        ("messages_required", 400),
        ("prompt_required", 400),
        ("insufficient_credits", 402),
        ("provider_not_configured", 503),
        ("provider_error", 502),
    ],
)
def test_every_listed_error_code(seed_gateway, user, openai_upstream, monkeypatch, code, status):
    """常见错误码, each in the documented envelope; refused before the upstream, no credit moved."""
    from gateway.services import accounts, keys

    key, gateway = user.key, seed_gateway
    if code == "invalid_api_key":
        answer = chat(gateway, "sk-gw-not-a-key-00000000000000000", {"model": "openai/gpt-5", "messages": HAIKU})
    elif code == "api_disabled":
        keys.set_key_disabled(user.key_hash, True)
        answer = chat(gateway, key, {"model": "openai/gpt-5", "messages": HAIKU})
    elif code == "model_required":
        answer = chat(gateway, key, {"messages": HAIKU})
    elif code == "model_not_available":
        answer = chat(gateway, key, {"model": "openai/gpt-nonexistent", "messages": HAIKU})
    elif code == "messages_required":
        answer = chat(gateway, key, {"model": "openai/gpt-5"})
    elif code == "prompt_required":
        answer = image(gateway, key, {"model": "google/nano-banana-pro", "size": "1024x1024"})
    elif code == "insufficient_credits":
        poor = keys.issue_key(accounts.create_account("poor", 0).account_id, "k", "inference").key
        answer = chat(gateway, poor, {"model": "openai/gpt-5", "messages": HAIKU})
    elif code == "provider_not_configured":
        monkeypatch.delenv("DEEPSEEK_API_KEY")
        monkeypatch.delenv("DEEPSEEK_BASE_URL")
        answer = chat(gateway, key, {"model": "deepseek/deepseek-chat", "messages": HAIKU})
    else:
        from devtools.dynamodb_local import free_port

        monkeypatch.setenv("OPENAI_BASE_URL", f"http://127.0.0.1:{free_port()}/v1")  # nothing listens there
        answer = chat(gateway, key, {"model": "openai/gpt-5", "messages": HAIKU})
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert set(error) >= set(documented("error_answer")["error"])
    assert (error["type"], error["code"]) == (code, code)
    assert error["message"]
    assert balance_of(user.account_id) == 100_000_000
    if code != "provider_error":
        assert openai_upstream.chat.requests == []


def test_a_model_not_on_the_public_list_is_not_available_here(seed_gateway, user, seed_catalog):
    """Only models the registry enables and lists: an unlisted passthrough id works on /v1, not here."""
    body = {"model": "openai/gpt-unlisted", "messages": HAIKU}
    assert chat(seed_gateway, user.key, body).json()["error"]["code"] == "model_not_available"
    listed = httpx.post(
        f"{seed_gateway}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {user.key}"}
    )
    assert listed.status_code == 200, listed.text


def test_an_unknown_api_v1_route_answers_in_the_platforms_envelope(seed_gateway, user):
    """ "所有 /api/v1/* 接口统一返回" `{"error": {"message", "type", "code"}}` with `type` equal to `code`:
    a path under /api/v1 the gateway does not serve (video "暂不开放") too."""
    answer = httpx.get(f"{seed_gateway}/api/v1/videos/generations", headers={"Authorization": f"Bearer {user.key}"})
    assert answer.status_code == 404, answer.text
    error = answer.json()["error"]
    assert set(error) >= set(documented("error_answer")["error"])
    assert error["type"] == error["code"] == "not_found", error
