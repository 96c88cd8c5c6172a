"""YouRouter (yourouter-chat.txt): POST /chat/completions, its headers (`vendor`), the models it
names, image input, streaming and its error table, through curl and the openai SDK."""

from __future__ import annotations

import json

import openai
import pytest

from tests.conformance.replay import Seed, check_transcribed, curl, sse_events
from tests.conftest import ledger_entry

SEED = Seed(
    page="yourouter-chat.txt",
    base_url="https://api.yourouter.ai",
    key_placeholders=("$YOUROUTER_API_KEY",),
    examples={
        "request": """curl https://api.yourouter.ai/v1/chat/completions \\
  -H "Authorization: Bearer $YOUROUTER_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{
    "model": "gpt-4o",
    "messages": [
      {
        "role": "user",
        "content": "Reply with exactly: connected"
      }
    ]
  }'""",
        "openai_sdk": """import os
from openai import OpenAI

client = OpenAI(
    api_key=os.environ["YOUROUTER_API_KEY"],
    base_url="https://api.yourouter.ai/v1",
)

completion = client.chat.completions.create(
    model="gpt-4o",
    messages=[{"role": "user", "content": "Reply with exactly: connected"}],
)

print(completion.choices[0].message.content)""",
        "image_input": """curl https://api.yourouter.ai/v1/chat/completions \\
  -H "Authorization: Bearer $YOUROUTER_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{
    "model": "gpt-4o",
    "messages": [
      {
        "role": "user",
        "content": [
          {
            "type": "text",
            "text": "Describe this image in one sentence."
          },
          {
            "type": "image_url",
            "image_url": {
              "url": "https://example.com/image.jpg"
            }
          }
        ]
      }
    ]
  }'""",
        "base64_image_part": """{
  "type": "image_url",
  "image_url": {
    "url": "data:image/jpeg;base64,<BASE64_IMAGE>"
  }
}""",
        "auto_routing": """curl https://api.yourouter.ai/v1/chat/completions \\
  -H "Authorization: Bearer $YOUROUTER_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello"}]}'""",
        "vendor_pinned": """curl https://api.yourouter.ai/v1/chat/completions \\
  -H "Authorization: Bearer $YOUROUTER_API_KEY" \\
  -H "Content-Type: application/json" \\
  -H "vendor: openai" \\
  -d '{"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello"}]}'""",
        "streaming": """curl https://api.yourouter.ai/v1/chat/completions \\
  -H "Authorization: Bearer $YOUROUTER_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{
    "model": "gpt-4o",
    "stream": true,
    "messages": [
      {
        "role": "user",
        "content": "Explain model routing in two sentences."
      }
    ]
  }'""",
    },
)
# a 1x1 JPEG stands in for <BASE64_IMAGE>
JPEG = "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////////////////////////////////////wAALCAABAAEBAREA/8QAFAABAAAAAAAAAAAAAAAAAAAAA//EABQQAQAAAAAAAAAAAAAAAAAAAAD/2gAIAQEAAD8AN//Z"


def test_the_examples_are_the_pages_own():
    check_transcribed(SEED)


def assert_completion(body: dict, content: str) -> None:  # type: ignore[type-arg]
    """The documented response: OpenAI's chat.completion, the text at choices[0].message.content."""
    assert body["id"]
    assert body["object"] == "chat.completion"
    (choice,) = body["choices"]
    assert (choice["index"], choice["message"]["role"], choice["finish_reason"]) == (0, "assistant", "stop")
    assert choice["message"]["content"].strip() == content  # the fake joins text parts with spaces
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


def test_request(seed_gateway, user, openai_upstream):
    answer = SEED.curl("request", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    assert_completion(answer.json(), "echo: Reply with exactly: connected")
    assert openai_upstream.chat.requests[-1]["model"] == "gpt-4o"


def test_openai_sdk(seed_gateway, user):
    run = SEED.run("openai_sdk", seed_gateway, user.key, env={"YOUROUTER_API_KEY": user.key})
    assert run.printed == "echo: Reply with exactly: connected\n"
    assert run.namespace["completion"].object == "chat.completion"


@pytest.mark.parametrize(
    ("model", "upstream"),
    [("gpt-4o", "openai"), ("claude-sonnet-4-20250514", "anthropic"), ("gemini-2.5-flash", "gemini")],
)
def test_the_documented_model_ids(seed_gateway, user, openai_upstream, fake_servers, model, upstream):
    """`model`: "例如 gpt-4o、claude-sonnet-4-20250514、gemini-2.5-flash"."""
    body = {"model": model, "messages": [{"role": "user", "content": "Hello"}]}
    answer = curl_json(seed_gateway, user.key, body)
    assert answer.status_code == 200, answer.text
    assert_completion(answer.json(), "echo: Hello")
    received = {
        "openai": lambda: openai_upstream.chat.requests[-1]["model"],
        "anthropic": lambda: fake_servers["anthropic"].requests[-1]["model"],
        "gemini": lambda: fake_servers["gemini"].requests[-1][0].partition(":")[0],
    }[upstream]()
    assert received == model  # each provider's own id for it


@pytest.mark.parametrize("field", ["temperature", "max_tokens", "tools"])
def test_the_documented_body_parameters(seed_gateway, user, openai_upstream, field):
    values = {
        "temperature": 0.2,
        "max_tokens": 64,
        "tools": [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}],
    }
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello"}], field: values[field]}
    answer = curl_json(seed_gateway, user.key, body)
    assert answer.status_code == 200, answer.text
    assert openai_upstream.chat.requests[-1][field] == values[field]
    if field == "tools":
        (call,) = answer.json()["choices"][0]["message"]["tool_calls"]
        assert call["function"]["name"] == "weather"


def test_image_input(seed_gateway, user, openai_upstream):
    answer = SEED.curl("image_input", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    assert_completion(answer.json(), "echo: Describe this image in one sentence.")
    parts = openai_upstream.chat.requests[-1]["messages"][0]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": "https://example.com/image.jpg"}}


def test_base64_image_input(seed_gateway, user, openai_upstream):
    part = json.loads(SEED.examples["base64_image_part"].replace("<BASE64_IMAGE>", JPEG))
    body = {
        "model": "gpt-4o",
        "messages": [{"role": "user", "content": [{"type": "text", "text": "What is it?"}, part]}],
    }
    answer = curl_json(seed_gateway, user.key, body)
    assert answer.status_code == 200, answer.text
    assert openai_upstream.chat.requests[-1]["messages"][0]["content"][1] == part


def provider_of(response) -> str:  # type: ignore[no-untyped-def]
    entry = ledger_entry(response.headers["x-trace-id"])
    assert entry is not None
    return str(entry["provider"])


def test_automatic_routing(seed_gateway, user):
    answer = SEED.curl("auto_routing", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    assert_completion(answer.json(), "echo: Hello")
    assert provider_of(answer) == "openai"


def test_vendor_pins_the_provider(seed_gateway, user):
    answer = SEED.curl("vendor_pinned", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    assert provider_of(answer) == "openai"


@pytest.mark.parametrize(
    ("vendor", "model", "provider"),
    [
        ("auto", "gpt-4o", "openai"),
        ("openai", "gpt-4o", "openai"),
        ("anthropic", "claude-sonnet-4-20250514", "anthropic"),
        ("google", "gemini-2.5-flash", "gemini"),
    ],
)
def test_the_documented_vendor_values(seed_gateway, user, vendor, model, provider):
    """`vendor`: "使用 auto 或省略代表自动路由。也可使用 openai、anthropic、google 等值固定上游"."""
    body = {"model": model, "messages": [{"role": "user", "content": "Hello"}]}
    answer = curl_json(seed_gateway, user.key, body, vendor=vendor)
    assert answer.status_code == 200, answer.text
    assert provider_of(answer) == provider
    assert ledger_entry(answer.headers["x-trace-id"])["routing_strategy"] == ("auto" if vendor == "auto" else "vendor")  # type: ignore[index]


def test_streaming(seed_gateway, user):
    answer = SEED.curl("streaming", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/event-stream")
    events = sse_events(answer.text)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    assert {chunk["object"] for chunk in chunks} == {"chat.completion.chunk"}
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks if chunk["choices"])
    assert text.strip() == "echo: Explain model routing in two sentences."


@pytest.mark.parametrize(
    ("case", "status", "code"),
    [
        ("invalid body", 400, "invalid_json"),
        ("no messages", 400, "messages_required"),
        ("no key", 401, "invalid_api_key"),
        ("provider rate limit", 429, "provider_rate_limited"),
        ("provider error", 502, "provider_error"),  # YouRouter documents 500: the gateway answers 502
    ],
)
def test_the_documented_errors(seed_gateway, user, case, status, code):
    """常见错误: 400 bad body or parameter, 401 missing key, 429 provider rate limit, 500 gateway or
    provider error (the gateway answers an upstream's failure with 502 `provider_error`)."""
    key = "" if case == "no key" else user.key
    content = {
        "invalid body": b'{"model": "gpt-4o", "messages": [',
        "no messages": b'{"model": "gpt-4o"}',
        "no key": b'{"model": "gpt-4o", "messages": [{"role": "user", "content": "Hello"}]}',
        "provider rate limit": b'{"model": "openai/rate-limited", "messages": [{"role": "user", "content": "Hi"}]}',
        "provider error": b'{"model": "openai/fail-500", "messages": [{"role": "user", "content": "Hi"}]}',
    }[case]
    import httpx

    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})}
    answer = httpx.post(f"{seed_gateway}/v1/chat/completions", content=content, headers=headers, timeout=30)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert (error["code"], error["status"]) == (code, status)
    assert error["message"]
    assert answer.headers["x-trace-id"]  # the request id to quote


def test_the_openai_sdk_raises_the_documented_errors(seed_gateway, user):
    client = openai.OpenAI(api_key="sk-gw-not-a-real-key-0000000000", base_url=f"{seed_gateway}/v1", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Hello"}])
    client = openai.OpenAI(api_key=user.key, base_url=f"{seed_gateway}/v1", max_retries=0)
    with pytest.raises(openai.RateLimitError):
        client.chat.completions.create(model="openai/rate-limited", messages=[{"role": "user", "content": "Hello"}])


def curl_json(gateway: str, key: str, body: dict, **headers: str):  # type: ignore[no-untyped-def,type-arg]
    """A chat request shaped like the page's curl examples, with another body or headers."""
    lines = [
        f"curl {gateway}/v1/chat/completions",
        f'-H "Authorization: Bearer {key}"',
        '-H "Content-Type: application/json"',
    ]
    lines += [f'-H "{name}: {value}"' for name, value in headers.items()]
    lines.append(f"-d '{json.dumps(body)}'")
    return curl(" \\\n  ".join(lines))
