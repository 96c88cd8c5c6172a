"""poeti.ai (poeti-api.txt): chat with its documented response and X-Trace-ID, the Python streaming
example, models, API keys managed with the user's own key, usage, request traces and their stats in
its envelope, its error format, and its retry example."""

from __future__ import annotations

import json
import textwrap
import threading
from datetime import UTC, datetime

import httpx
import openai
import pytest

from tests.conformance.replay import Seed, check_transcribed
from tests.conftest import aggregated

SEED = Seed(
    page="poeti-api.txt",
    base_url="https://api.poeti.ai",
    key_placeholders=("$POETI_API_KEY",),
    examples={
        "chat": """curl https://api.poeti.ai/v1/chat/completions \\
-H "Content-Type: application/json" \\
-H "Authorization: Bearer $POETI_API_KEY" \\
-d '{
"model": "gpt-4o",
"messages": [
{"role": "system", "content": "You are a helpful assistant."},
{"role": "user", "content": "解释量子纠缠"}
],
"temperature": 0.7,
"max_tokens": 1024
}'""",
        "chat_answer": """{
"id": "chatcmpl-poeti-a1b2c3d4",
"object": "chat.completion",
"created": 1712678400,
"model": "gpt-4o",
"choices": [
{
"index": 0,
"message": {
"role": "assistant",
"content": "量子纠缠是一种量子力学现象..."
},
"finish_reason": "stop"
}
],
"usage": {
"prompt_tokens": 28,
"completion_tokens": 312,
"total_tokens": 340
}
}""",
        # the page shows it unindented; indented here as Python needs it
        "stream": textwrap.dedent(
            """\
            stream = client.chat.completions.create(
            model="gpt-4o",
            messages=[{"role": "user", "content": "写一首关于春天的诗"}],
            stream=True
            )
            for chunk in stream:
                delta = chunk.choices[0].delta.content
                if delta is not None:
                    print(delta, end="", flush=True)"""
        ),
        "models": """curl https://api.poeti.ai/v1/models \\
-H "Authorization: Bearer $POETI_API_KEY\"""",
        "list_keys": """curl https://api.poeti.ai/api/v1/api-keys \\
-H "Authorization: Bearer $POETI_API_KEY\"""",
        "list_keys_answer": """{
"code": 200,
"data": [
{
"id": 1,
"name": "生产环境 Key",
"key_prefix": "sk-poeti-a1b2...",
"is_active": true,
"total_requests": 15420,
"total_cost": 12.84,
"created_at": "2026-01-15T08:00:00Z"
}
]
}""",
        "create_key": """curl -X POST https://api.poeti.ai/api/v1/api-keys \\
-H "Authorization: Bearer $POETI_API_KEY" \\
-H "Content-Type: application/json" \\
-d '{
"name": "我的应用",
"monthly_budget": 50.0,
"rate_limit": 100
}'""",
        "usage": """curl "https://api.poeti.ai/api/v1/usage?date_from=2026-04-01&date_to=2026-04-30" \\
-H "Authorization: Bearer $POETI_API_KEY\"""",
        "usage_answer": """{
"code": 200,
"data": {
"total_requests": 8432,
"total_prompt_tokens": 1240580,
"total_completion_tokens": 845230,
"total_tokens": 2085810,
"total_cost_usd": 24.56,
"by_model": [
{
"model": "gpt-4o",
"requests": 3210,
"tokens": 980450,
"cost_usd": 14.30
}
]
}
}""",
        "traces": """curl "https://api.poeti.ai/api/v1/request-traces?status=error&page_size=20" \\
-H "Authorization: Bearer $POETI_API_KEY\"""",
        "traces_answer": """{
"code": 200,
"data": {
"items": [
{
"trace_id": "trace-poeti-7f8e9d0a",
"model": "gpt-4o",
"provider": "openai",
"status": "success",
"prompt_tokens": 128,
"completion_tokens": 256,
"cost_usd": 0.00512,
"latency_ms": 843,
"routing_strategy": "comprehensive",
"created_at": "2026-04-09T14:23:18Z"
}
],
"total": 15420,
"page": 1,
"page_size": 20
}
}""",
        "stats_answer": """{
"total_requests": 15420,
"success_count": 15210,
"error_count": 210,
"total_tokens": 8450230,
"total_cost_usd": 42.18,
"avg_latency_ms": 723,
"avg_cost_per_request": 0.00274
}""",
        "error_answer": """{
"error": {
"code": "invalid_api_key",
"message": "The provided API key is invalid or has been revoked.",
"status": 401
}
}""",
        # the page shows it unindented; indented here as Python needs it
        "retry": textwrap.dedent(
            """\
            import time, openai
            def chat_with_retry(client, **kwargs):
                max_retries = 3
                wait = 1
                for attempt in range(max_retries):
                    try:
                        return client.chat.completions.create(**kwargs)
                    except openai.RateLimitError:
                        if attempt == max_retries - 1: raise
                        time.sleep(wait)
                        wait *= 2 # 指数退避
                    except openai.APIStatusError as e:
                        if e.status_code >= 500:
                            time.sleep(wait)
                            wait *= 2
                        else:
                            raise"""
        ),
    },
)


def test_the_examples_are_the_pages_own():
    check_transcribed(SEED)


def documented(name: str) -> dict:  # type: ignore[type-arg]
    return json.loads(SEED.examples[name])  # type: ignore[no-any-return]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def sdk(gateway: str, key: str) -> openai.OpenAI:
    """ "只需替换 Base URL 和 API Key"."""
    return openai.OpenAI(base_url=f"{gateway}/v1", api_key=key, max_retries=0)


def test_chat_answers_the_documented_response_with_a_trace_id(seed_gateway, user, openai_upstream):
    answer = SEED.curl("chat", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    body, example = answer.json(), documented("chat_answer")
    assert set(body) >= set(example)
    assert (body["object"], body["model"]) == ("chat.completion", "gpt-4o")
    assert isinstance(body["created"], int)
    (choice,) = body["choices"]
    assert set(choice) >= set(example["choices"][0])
    assert choice["message"] == {"role": "assistant", "content": "echo: 解释量子纠缠"}
    assert set(body["usage"]) >= set(example["usage"])
    sent = openai_upstream.chat.requests[-1]
    assert (sent["temperature"], sent["max_tokens"], len(sent["messages"])) == (0.7, 1024, 2)
    # X-Trace-ID finds the call in the request log
    trace_id = answer.headers["X-Trace-ID"]
    trace = httpx.get(f"{seed_gateway}/api/v1/request-traces/{trace_id}", headers=auth(user.key)).json()["data"]
    assert (trace["trace_id"], trace["model"], trace["status"]) == (trace_id, "openai/gpt-4o", "success")


def test_the_python_streaming_example(seed_gateway, user):
    run = SEED.run("stream", seed_gateway, user.key, client=sdk(seed_gateway, user.key))
    assert run.printed.strip() == "echo: 写一首关于春天的诗"


def test_the_sse_format(seed_gateway, user):
    """`data: {"id", "choices": [{"delta": {"content"}, "index"}]}` ... a chunk with finish_reason
    stop and an empty delta, then `data: [DONE]`."""
    answer = httpx.post(
        f"{seed_gateway}/v1/chat/completions",
        json={"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": "写一首关于春天的诗"}]},
        headers=auth(user.key),
    )
    events = [line[6:] for line in answer.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    last = json.loads(events[-2])
    assert (last["choices"][0]["delta"], last["choices"][0]["finish_reason"]) == ({}, "stop")
    assert all(json.loads(event)["id"].startswith("chatcmpl-") for event in events[:-1])


def test_models(seed_gateway, user, fake_servers):
    answer = SEED.curl("models", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    listed = answer.json()
    assert listed["object"] == "list"
    for model in listed["data"]:
        assert {"id", "object", "created", "owned_by"} <= set(model)
    names = {name for model in listed["data"] for name in (model["id"], *model["aliases"])}
    assert {"gpt-4o", "claude-3-5-sonnet-20241022"} <= names
    # each listed name can be called
    claude = sdk(seed_gateway, user.key).chat.completions.create(
        model="claude-3-5-sonnet-20241022", messages=[{"role": "user", "content": "hi"}]
    )
    assert claude.choices[0].message.content == "echo: hi"
    assert fake_servers["anthropic"].requests[-1]["model"] == "claude-3-5-sonnet-20241022"


def test_api_keys_with_the_users_own_key(seed_gateway, user):
    created = SEED.curl("create_key", seed_gateway, user.key)
    assert created.status_code == 200, created.text
    assert created.json()["code"] == 200
    new = created.json()["data"]
    assert (new["name"], new["monthly_budget"], new["rate_limit"], new["is_active"]) == ("我的应用", 50, 100, True)
    assert sdk(seed_gateway, new["key"]).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
    )
    aggregated()  # a key's totals are added from the ledger's stream
    listed = SEED.curl("list_keys", seed_gateway, user.key)
    assert listed.status_code == 200, listed.text
    assert listed.json()["code"] == 200
    example = documented("list_keys_answer")["data"][0]
    by_name = {key["name"]: key for key in listed.json()["data"]}
    assert set(by_name) == {"default", "我的应用"}
    for key in by_name.values():
        assert set(key) >= set(example)
    assert (by_name["我的应用"]["total_requests"], by_name["我的应用"]["is_active"]) == (1, True)
    assert by_name["我的应用"]["total_cost"] > 0
    assert new["key"] not in listed.text


def spend(gateway: str, key: str) -> None:
    """Two answers and a failure, their usage aggregated (from the ledger's stream) before it is read."""
    for model in ("gpt-4o", "gpt-4o", "openai/fail-500"):
        httpx.post(
            f"{gateway}/v1/chat/completions",
            json={"model": model, "messages": [{"role": "user", "content": "hi"}]},
            headers=auth(key),
            timeout=30,
        )
    aggregated()


def test_usage(seed_gateway, user):
    answer = SEED.curl("usage", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    example = documented("usage_answer")
    assert answer.json()["code"] == 200
    assert set(answer.json()["data"]) >= set(example["data"])
    spend(seed_gateway, user.key)
    today = datetime.now(UTC).date().isoformat()
    usage = httpx.get(
        f"{seed_gateway}/api/v1/usage", params={"date_from": today, "date_to": today}, headers=auth(user.key)
    ).json()["data"]
    assert usage["total_requests"] == 3
    assert usage["total_tokens"] == usage["total_prompt_tokens"] + usage["total_completion_tokens"]
    by_model = {row["model"]: row for row in usage["by_model"]}
    for row in by_model.values():
        assert set(row) >= set(example["data"]["by_model"][0])
    assert by_model["openai/gpt-4o"]["requests"] == 2
    assert by_model["openai/gpt-4o"]["cost_usd"] > 0
    assert usage["total_cost_usd"] == pytest.approx(sum(row["cost_usd"] for row in by_model.values()))


def test_request_traces_and_their_stats(seed_gateway, user):
    spend(seed_gateway, user.key)
    answer = SEED.curl("traces", seed_gateway, user.key)
    assert answer.status_code == 200, answer.text
    body, example = answer.json(), documented("traces_answer")
    assert body["code"] == 200
    page = body["data"]
    assert set(page) >= set(example["data"])
    assert (page["total"], page["page"], page["page_size"]) == (1, 1, 20)
    (failed,) = page["items"]
    assert set(failed) >= set(example["data"]["items"][0])
    assert (failed["model"], failed["provider"], failed["status"]) == ("openai/fail-500", "openai", "error")
    assert (failed["routing_strategy"], failed["cost_usd"]) == ("auto", 0)

    stats = httpx.get(f"{seed_gateway}/api/v1/request-traces/stats", headers=auth(user.key)).json()
    assert set(stats) >= set(documented("stats_answer"))
    assert (stats["total_requests"], stats["success_count"], stats["error_count"]) == (3, 2, 1)
    assert stats["avg_cost_per_request"] == pytest.approx(stats["total_cost_usd"] / 3, abs=1e-8)


def test_the_error_format(seed_gateway):
    answer = httpx.post(
        f"{seed_gateway}/v1/chat/completions",
        json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        headers=auth("sk-poeti-revoked-0000000000000000"),
    )
    assert answer.status_code == 401
    error = answer.json()["error"]
    assert set(error) >= set(documented("error_answer")["error"])
    assert (error["code"], error["status"]) == ("invalid_api_key", 401)


@pytest.fixture
def sleeps(monkeypatch):  # type: ignore[no-untyped-def]
    """The example's own sleeps (in this thread) are recorded, not slept; the gateway's are untouched."""
    import time

    real, caller, slept = time.sleep, threading.current_thread(), []

    def sleep(seconds: float) -> None:
        if threading.current_thread() is caller:
            slept.append(seconds)
        else:
            real(seconds)

    monkeypatch.setattr(time, "sleep", sleep)
    return slept


def test_the_retry_example(seed_gateway, user, sleeps):
    chat_with_retry = SEED.run("retry", seed_gateway, user.key).namespace["chat_with_retry"]
    client = sdk(seed_gateway, user.key)
    hello = [{"role": "user", "content": "hi"}]
    # an answer comes back at once
    assert chat_with_retry(client, model="gpt-4o", messages=hello).choices[0].message.content == "echo: hi"
    assert sleeps == []
    # 429s: retried with exponential backoff, then raised
    with pytest.raises(openai.RateLimitError):
        chat_with_retry(client, model="openai/rate-limited", messages=hello)
    assert sleeps == [1, 2]
    # 5xx: retried with backoff (the gateway answers an upstream failure with 502)
    sleeps.clear()
    assert chat_with_retry(client, model="openai/fail-500", messages=hello) is None
    assert sleeps == [1, 2, 4]
    # 4xx: raised at once
    with pytest.raises(openai.NotFoundError):
        chat_with_retry(client, model="gpt-nonexistent", messages=hello)


@pytest.fixture
def credit_at_one_cent(monkeypatch):  # type: ignore[no-untyped-def]
    from gateway import caches

    monkeypatch.setenv("CREDIT_PRICE_USD", "0.01")
    caches.reset()
    yield
    monkeypatch.delenv("CREDIT_PRICE_USD")
    caches.reset()


def test_a_keys_cost_and_budget_are_in_us_dollars_as_its_usage_is(seed_gateway, user, credit_at_one_cent):
    """poeti's costs are US dollars (`total_cost_usd`); a key's `total_cost` and `monthly_budget` are too,
    whatever a credit costs."""
    headers = {"Authorization": f"Bearer {user.key}"}
    for _ in range(2):
        sent = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
        assert httpx.post(f"{seed_gateway}/v1/chat/completions", json=sent, headers=headers).status_code == 200
    aggregated()
    usage = httpx.get(f"{seed_gateway}/api/v1/usage", headers=headers).json()["data"]
    (key,) = [
        k
        for k in httpx.get(f"{seed_gateway}/api/v1/api-keys", headers=headers).json()["data"]
        if k["name"] == "default"
    ]
    assert usage["total_cost_usd"] > 0
    assert key["total_cost"] == pytest.approx(usage["total_cost_usd"])
    # a budget of $50 is the 5,000 credits it buys at a cent a credit
    made = httpx.post(
        f"{seed_gateway}/api/v1/api-keys", json={"name": "budget", "monthly_budget": 50.0}, headers=headers
    )
    assert made.status_code in (200, 201), made.text
    assert made.json()["data"]["monthly_budget"] == pytest.approx(50.0)
    from gateway.storage.stores import stores

    record = stores().keys.get(made.json()["data"]["id"])
    assert record is not None
    assert record.limit == 5_000_000_000  # micro-credits
