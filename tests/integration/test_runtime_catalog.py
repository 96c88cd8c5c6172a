"""Models and prices changed at runtime through the admin API reach the running gateway (the dev
server, as `make dev` serves it) within seconds, with no restart; a request is charged at the prices
its hold was made with, whatever changes meanwhile; bad changes are a 400 and change nothing."""

from __future__ import annotations

import math
import threading
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.conftest import balance_of, ledger_entry
from tests.support.control import AdminApi, chat, eventually, operator, unique

__all__ = ["operator"]


def model_spec(model_id: str, *, upstream: str = "echo", input: str = "1", output: str = "2") -> dict[str, Any]:
    return {
        "id": model_id,
        "display_name": model_id,
        "owned_by": "ops",
        "context_length": 8192,
        "max_output_tokens": 100,
        "pricing": {"input": input, "output": output},
        "providers": [{"provider": "fake", "model": upstream}],
    }


def cost(entry: dict[str, Any], input: str, output: str) -> int:
    """Micro-credits at these prices (credits per 1M tokens = micro-credits per token), rounded up once."""
    return math.ceil(entry["prompt_tokens"] * Decimal(input) + entry["completion_tokens"] * Decimal(output))


@pytest.fixture
def model(operator: AdminApi, upstream: Any) -> Any:
    """A model of its own on the fake upstream, removed afterwards."""
    created: list[str] = []

    def make(**fields: Any) -> str:
        model_id = unique("ops/model")
        operator.post("/models", model_spec(model_id, **fields))
        created.append(model_id)
        return model_id

    yield make
    for model_id in created:
        operator.call("DELETE", f"/models/{model_id}", expect=200)


def test_a_price_change_applies_to_the_next_requests_without_a_restart(gateway_url, operator, model, make_tenant):
    tenant = make_tenant("10")
    model_id = model(input="1", output="2")
    first = eventually(lambda: (r := chat(gateway_url, tenant.key, model_id)).status_code == 200 and r)
    before = ledger_entry(first.headers["x-trace-id"])
    assert before is not None
    assert before["credits"] == cost(before, "1", "2")

    changed_version = operator.patch(f"/models/{model_id}", {"pricing": {"input": "3", "output": "5"}})
    assert changed_version["pricing"] == {"input": "3", "output": "5"}

    def repriced() -> dict[str, Any] | None:
        entry = ledger_entry(chat(gateway_url, tenant.key, model_id).headers["x-trace-id"])
        return entry if entry and entry["catalog_version"] > before["catalog_version"] else None

    after = eventually(repriced)
    assert after["credits"] == cost(after, "3", "5")
    assert after["price_ratio"] == "1"


def test_adding_then_disabling_a_model_reaches_the_gateway(gateway_url, operator, model, make_tenant):
    tenant = make_tenant("10")
    model_id = unique("ops/new")
    assert chat(gateway_url, tenant.key, model_id).json()["error"]["code"] == "model_not_found"

    operator.post("/models", model_spec(model_id))
    assert eventually(lambda: model_id in _listed(gateway_url, tenant.key))
    assert chat(gateway_url, tenant.key, model_id).status_code == 200

    operator.patch(f"/models/{model_id}", {"enabled": False})
    eventually(lambda: chat(gateway_url, tenant.key, model_id).status_code == 404)
    spent = 10_000_000 - balance_of(tenant.account_id)
    assert chat(gateway_url, tenant.key, model_id).status_code == 404
    assert 10_000_000 - balance_of(tenant.account_id) == spent  # a refused request costs nothing
    operator.delete(f"/models/{model_id}")


def test_a_request_is_charged_at_the_prices_its_hold_was_made_with(gateway_url, operator, model, make_tenant, upstream):
    """Given a request held at one price and still waiting on its upstream
    When the operator raises the price tenfold before the upstream answers
    Then the request is charged at the price it was held at (and never above its hold), and the next
    request at the new one."""
    tenant = make_tenant("10")
    model_id = model(upstream="hold", input="1", output="2")
    eventually(lambda: model_id in _listed(gateway_url, tenant.key))
    answers: list[httpx.Response] = []
    caller = threading.Thread(target=lambda: answers.append(chat(gateway_url, tenant.key, model_id)))
    caller.start()
    eventually(lambda: upstream.held >= 1)
    changed = operator.patch(f"/models/{model_id}", {"pricing": {"input": "10", "output": "20"}})
    assert changed["pricing"]["input"] == "10"
    eventually(lambda: _version_seen(gateway_url, tenant.key) > 0)  # the gateway has loaded the new version
    upstream.release()
    caller.join(timeout=30)
    held = ledger_entry(answers[0].headers["x-trace-id"])
    assert held is not None
    assert held["credits"] == cost(held, "1", "2")
    assert held["credits"] <= held["reserved"]
    later = ledger_entry(chat(gateway_url, tenant.key, model_id).headers["x-trace-id"])
    assert later is not None
    assert later["catalog_version"] > held["catalog_version"]
    assert later["credits"] == cost(later, "10", "20")


def test_the_admin_api_answers_operator_keys_only(gateway_url, operator, make_tenant):
    inference, management = make_tenant("1"), make_tenant("1", kind="management")
    assert httpx.get(f"{gateway_url}/api/admin/models").status_code == 401
    for key in (inference.key, management.key):
        refused = httpx.get(f"{gateway_url}/api/admin/models", headers=_auth(key))
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "forbidden"
    assert operator.get("/models")
    # and an operator key calls no model and reads no account's data
    operator_key = operator.http.headers["Authorization"].removeprefix("Bearer ")
    assert chat(gateway_url, operator_key, "test/echo").status_code == 403
    assert httpx.get(f"{gateway_url}/api/user/self", headers=_auth(operator_key)).status_code == 403


@pytest.mark.parametrize(
    ("spec", "param"),
    [
        ({"providers": [{"provider": "nowhere-at-all", "model": "x"}]}, None),
        ({"aliases": ["echo"]}, None),  # the alias of test/echo
        ({"pricing": {"input": "-1"}}, "pricing.input"),
        ({"pricing": {"input": "1e309"}}, "pricing.input"),  # held, it answered "402: up to 6.5e+304 credits"
        ({"pricing": {"input": "1", "tiers": [{"above_prompt_tokens": 10, "input": "0.5"}]}}, "pricing"),
        ({"context_length": 0}, "context_length"),
        ({"colour": "blue"}, "colour"),
        ({"providers": []}, "providers"),
        ({"id": "x'$(touch${IFS}/tmp/pwned)'y"}, "id"),  # pasted into the console's curl snippet
        ({"aliases": ['my "model"']}, "aliases[0]"),
    ],
    ids=[
        "unknown-provider",
        "alias-taken",
        "negative-price",
        "huge-price",
        "tier-cheaper",
        "zero-context",
        "unknown-field",
        "no-provider",
        "id-with-shell",
        "alias-with-quotes",
    ],
)
def test_a_bad_model_is_a_400_and_changes_nothing(operator, spec, param):
    version = operator.get("/catalog")["version"]
    body = operator.post("/models", {**model_spec(unique("ops/bad")), **spec}, expect=400)
    assert body["error"]["code"] == "invalid_request"
    if param is not None:
        assert body["error"]["param"] == param
    assert operator.get("/catalog")["version"] == version


def test_patches_that_cannot_apply_are_refused(operator, model):
    model_id = model()
    assert operator.patch(f"/models/{model_id}", {"id": "ops/other"}, expect=400)["error"]["param"] == "id"
    quoted = operator.patch(f"/models/{model_id}", {"aliases": ["fine", "it's"]}, expect=400)
    assert quoted["error"]["param"] == "aliases[1]"
    assert operator.patch("/models/ops/never-made", {"enabled": False}, expect=404)["error"]["code"] == "not_found"
    assert operator.post("/models", model_spec(model_id), expect=409)["error"]["code"] == "conflict"
    not_an_object = operator.call("PATCH", f"/models/{model_id}", content=b"[1, 2]", expect=400)
    assert not_an_object["error"]["code"] == "invalid_request"


def test_the_shipped_catalog_seeds_the_table_and_an_export_imports_back_unchanged(gateway_url, operator, make_tenant):
    status = operator.post("/catalog/seed", {}, expect=200)
    assert status["seeded"] is True
    exported = operator.get("/catalog/export")
    assert {"test/echo", "test/claude", "test/image"} <= {spec["id"] for spec in exported["models"]}
    assert chat(gateway_url, make_tenant("1").key, "test/echo").status_code == 200
    again = operator.post("/catalog/import", exported, expect=200)
    assert again["version"] == exported["version"]  # nothing differed: nothing written


def test_credit_cost_is_the_flat_price_per_request(gateway_url, operator, model, make_tenant):
    tenant = make_tenant("10")
    model_id = model(input="0", output="0")
    operator.patch(f"/models/{model_id}", {"pricing": {"credit_cost": "0.25"}})
    assert operator.get(f"/models/{model_id}")["pricing"]["request"] == "0.25"

    def flat() -> dict[str, Any] | None:
        entry = ledger_entry(chat(gateway_url, tenant.key, model_id).headers["x-trace-id"])
        return entry if entry and entry["credits"] == 250_000 else None

    eventually(flat)


def _version_seen(gateway_url: str, key: str) -> int:
    """Whether the gateway's catalog has the tenfold price yet (a listing shows the catalog it serves)."""
    listed = httpx.get(f"{gateway_url}/v1/models", headers=_auth(key)).json()["data"]
    return sum(1 for m in listed if m["id"].startswith("ops/model") and m["pricing"]["input"] == "10")


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _listed(gateway_url: str, key: str) -> set[str]:
    return {m["id"] for m in httpx.get(f"{gateway_url}/v1/models", headers=_auth(key)).json()["data"]}


def test_an_image_task_is_charged_at_the_price_it_was_held_at(gateway_url, operator, upstream, aws_local, make_tenant):
    """Given an async image task held at 0.05 credits an image
    When the operator raises the price tenfold before the worker works it (in another process, later)
    Then the worker charges the task at the price its hold was made with."""
    from gateway.catalog import live
    from tests.integration.test_images import deliver, run_worker

    model_id = unique("ops/image")
    operator.post(
        "/models",
        {
            "id": model_id, "display_name": "Image", "owned_by": "ops", "category": "image",
            "pricing": {"image": {"*": "0.05"}}, "media": {"sizes": ["1024x1024"]},
            "providers": [{"provider": "fake-images", "model": "image-fake"}],
        },
    )  # fmt: skip
    tenant = make_tenant("10")

    def start() -> httpx.Response | None:
        created = httpx.post(
            f"{gateway_url}/v1/images/generations",
            json={"model": model_id, "prompt": "an otter", "async": True},
            headers=_auth(tenant.key),
        )
        return created if created.status_code == 202 else None

    task_id = eventually(start).json()["task_id"]
    operator.patch(f"/models/{model_id}", {"pricing": {"image": {"*": "0.5"}}})
    eventually(lambda: str(live.snapshot().catalog.resolve(model_id).pricing.image["*"]) == "0.5")  # type: ignore[union-attr, index]
    assert run_worker(deliver(aws_local)) == {"batchItemFailures": []}
    entry = ledger_entry(task_id)
    assert entry is not None
    assert (entry["status"], entry["credits"]) == ("success", 50_000)
    operator.delete(f"/models/{model_id}")


LONE_SURROGATE = "\\ud800"  # as JSON writes it: text no UTF-8 can carry, nor a later answer render


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/models", '{"id": "ops/surrogate", "display_name": "%s", "owned_by": "x", "category": "chat", '
                            '"providers": [{"provider": "fake", "model": "echo"}], '
                            '"pricing": {"input": "1", "output": "1"}}'),
        ("PUT", "/providers/ops-surrogate", '{"kind": "openai", "default_base_url": "http://%s.example/v1"}'),
    ],
    ids=["model", "provider"],
)  # fmt: skip
def test_a_lone_surrogate_in_an_admin_document_is_a_400_and_changes_nothing(
    gateway_url, operator, make_tenant, method, path, body
):
    """Written, it answered a 500 and left every listing that renders it (customers' /v1/models for a
    model) a 500 until removed."""
    version = operator.get("/catalog")["version"]
    content = (body % LONE_SURROGATE).encode()
    refused = operator.call(method, path, content=content, headers={"Content-Type": "application/json"}, expect=400)
    assert refused["error"]["code"] == "invalid_request"
    assert operator.get("/catalog")["version"] == version
    listed = httpx.get(f"{gateway_url}/v1/models", headers=_auth(make_tenant("1").key), timeout=20)
    assert listed.status_code == 200, listed.text


@pytest.mark.parametrize(
    ("document", "param"),
    [
        ({"models": "x"}, "models"),
        ({"models": [None]}, "models"),
        ({"providers": [1]}, "providers"),
        ({"providers": {"x": 1}}, "providers"),
        ({"channels": [None]}, "channels"),
        ({"groups": {"x": None}}, "groups"),
        ({"settings": [1]}, "settings"),
    ],
)
def test_a_malformed_catalog_import_is_a_400_naming_its_section(operator, document, param):
    version = operator.get("/catalog")["version"]
    refused = operator.call("POST", "/catalog/import", json=document, expect=400)
    assert (refused["error"]["code"], refused["error"]["param"]) == ("invalid_request", param)
    assert operator.get("/catalog")["version"] == version
