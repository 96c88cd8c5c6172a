"""The credits platform's base URL is /api/v1: its model list, chat and image routes, answered from
the same catalog, keys and credits as /v1, with errors in its envelope (`type` equal to `code`)."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import balance_of, ledger_entry
from tests.integration.test_images import deliver, run_worker
from tests.support.fake_images import PNG

GRANT = 10_000_000


def post(url: str, path: str, key: str, body: dict) -> httpx.Response:  # type: ignore[type-arg]
    return httpx.post(f"{url}{path}", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=20)


def assert_platform_error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert (error["type"], error["code"], error["status"]) == (code, code, status)
    assert error["message"]


def test_the_model_list_has_the_platforms_fields(gateway_url, make_tenant):
    tenant = make_tenant("1")
    listed = httpx.get(f"{gateway_url}/api/v1/models", headers={"Authorization": f"Bearer {tenant.key}"}).json()
    assert listed["object"] == "list"
    by_id = {model["id"]: model for model in listed["data"]}
    echo, image = by_id["test/echo"], by_id["test/image"]
    assert (echo["object"], echo["owned_by"], echo["display_name"], echo["category"]) == (
        "model",
        "test",
        "Echo",
        "chat",
    )
    assert echo["capabilities"] == ["chat", "streaming"]
    assert (echo["credit_cost"], echo["credit_unit"]) == (1.5, "1M output tokens")
    assert (image["credit_cost"], image["credit_unit"]) == (0.04, "image")  # the first size, at its first quality
    assert "test/hidden" not in by_id
    assert "test/disabled" not in by_id


def test_chat_completions_answer_in_openais_shape_and_charge_as_v1(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    answer = post(
        gateway_url,
        "/api/v1/chat/completions",
        tenant.key,
        {"model": "test/echo", "messages": [{"role": "user", "content": "haiku"}]},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["choices"][0]["message"]["content"] == "echo: haiku"
    entry = ledger_entry(answer.headers["x-trace-id"])
    assert entry is not None
    assert entry["credits"] > 0
    assert balance_of(tenant.account_id) == GRANT - entry["credits"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, 400, "model_required"),
        ({"model": "test/echo"}, 400, "messages_required"),
        ({"model": "test/echo", "messages": []}, 400, "messages_required"),
        ({"model": "test/nope", "messages": [{"role": "user", "content": "hi"}]}, 404, "model_not_available"),
        ({"model": "test/hidden", "messages": [{"role": "user", "content": "hi"}]}, 404, "model_not_available"),
        ({"model": "test/disabled", "messages": [{"role": "user", "content": "hi"}]}, 404, "model_not_available"),
        (
            {"model": "test/unconfigured", "messages": [{"role": "user", "content": "hi"}]},
            503,
            "provider_not_configured",
        ),
        ({"model": "test/fail-500", "messages": [{"role": "user", "content": "hi"}]}, 502, "provider_error"),
        (
            {"model": "test/fail-500", "models": ["test/hidden"], "messages": [{"role": "user", "content": "hi"}]},
            404,
            "model_not_available",
        ),
    ],
    ids=[
        "no-model",
        "no-messages",
        "empty-messages",
        "unknown",
        "unlisted",
        "disabled",
        "unconfigured",
        "upstream-fails",
        "unlisted-fallback",
    ],
)
def test_chat_errors_have_the_platforms_codes_and_charge_nothing(
    gateway_url, upstream, make_tenant, body, status, code
):
    tenant = make_tenant("10")
    assert_platform_error(post(gateway_url, "/api/v1/chat/completions", tenant.key, body), status, code)
    assert balance_of(tenant.account_id) == GRANT


def test_key_errors_have_the_platforms_codes(gateway_url, upstream, make_tenant):
    body = {"model": "test/echo", "messages": [{"role": "user", "content": "hi"}]}
    assert_platform_error(post(gateway_url, "/api/v1/chat/completions", "sk-gw-nope", body), 401, "invalid_api_key")
    poor = make_tenant("0")
    assert_platform_error(post(gateway_url, "/api/v1/chat/completions", poor.key, body), 402, "insufficient_credits")
    from gateway.services import keys

    disabled = make_tenant("10")
    keys.set_key_disabled(disabled.key_hash, True)
    assert_platform_error(post(gateway_url, "/api/v1/chat/completions", disabled.key, body), 403, "api_disabled")


def test_an_image_request_answers_a_task_that_is_worked_and_charged(gateway_url, upstream, aws_local, make_tenant):
    tenant = make_tenant("10")
    created = post(
        gateway_url,
        "/api/v1/images/generations",
        tenant.key,
        {"model": "test/image", "prompt": "a robot", "size": "1024x1024"},
    )
    assert created.status_code == 202, created.text
    task = created.json()
    assert (task["data"], task["status"], task["model"]) == ([], "pending", "test/image")
    assert task["provider_task_id"] == task["task_id"]
    assert isinstance(task["created"], int)
    run_worker(deliver(aws_local))
    headers = {"Authorization": f"Bearer {tenant.key}"}
    done = httpx.get(f"{gateway_url}/api/v1/images/tasks/{task['task_id']}", headers=headers).json()
    assert (done["status"], done["provider_task_id"]) == ("succeeded", task["task_id"])
    assert httpx.get(done["data"][0]["url"]).content == PNG
    assert balance_of(tenant.account_id) == GRANT - 40_000


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"prompt": "a robot"}, 400, "model_required"),  # no default model here: the platform requires one
        ({"model": "test/image"}, 400, "prompt_required"),
        ({"model": "test/image", "prompt": ""}, 400, "prompt_required"),
        ({"model": "test/nope", "prompt": "x"}, 404, "model_not_available"),
    ],
)
def test_image_errors_have_the_platforms_codes_and_leave_no_task(
    gateway_url, upstream, make_tenant, body, status, code
):
    tenant = make_tenant("10")
    assert_platform_error(post(gateway_url, "/api/v1/images/generations", tenant.key, body), status, code)
    assert balance_of(tenant.account_id) == GRANT
