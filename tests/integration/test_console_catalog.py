"""The control plane in the console, over HTTP with the user pool's ID tokens: operators create and
change models and prices (live on the running gateway's next requests, with the catalog version that
made them), add, change and disable channels (their keys written once to Secrets Manager, never shown),
read each channel's health from the ledger's attempts, and set price groups; every change is in the
operator log, and a refused change writes nothing."""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest

from gateway.services import catalog_admin, channel_admin
from tests.conftest import aggregated, balance_of, ledger_entry
from tests.integration.test_runtime_catalog import cost, model_spec
from tests.support.console import CognitoPool, ConsoleApi
from tests.support.control import Upstream, chat, eventually, unique, upstreams


@pytest.fixture
def operator(gateway_url: str, cognito: CognitoPool) -> ConsoleApi:
    return ConsoleApi(gateway_url, cognito.sign_up(f"ops-{secrets.token_hex(4)}@example.com", operator=True))


@pytest.fixture
def made(upstream: Any) -> Iterator[dict[str, list[str]]]:
    """Models and channels a test makes, removed afterwards (the console disables, never deletes)."""
    created: dict[str, list[str]] = {"models": [], "channels": []}
    yield created
    for channel_id in created["channels"]:
        channel_admin.delete_channel(channel_id)
    for model_id in created["models"]:
        catalog_admin.delete_model(model_id)


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Upstream]]:
    yield from upstreams("console")


def log_of(operator: ConsoleApi, subject: str) -> list[dict[str, Any]]:
    return [entry for entry in operator.ok(operator.get("/admin/log"))["data"] if entry["subject"] == subject]


def served(response: Any) -> tuple[int, list[tuple[str, int]]]:
    """(the catalog version, and each attempt's channel and status) of an answered request."""
    assert response.status_code == 200, response.text
    entry = ledger_entry(response.headers["x-trace-id"])
    assert entry is not None
    return entry["catalog_version"], [(a["channel"], a["http_status"]) for a in entry["attempts"]]


def routed(gateway_url: str, key: str, model_id: str) -> list[tuple[str, int]]:
    """The attempts of one request for the model, once the gateway serves it (else none)."""
    response = chat(gateway_url, key, model_id)
    return served(response)[1] if response.status_code == 200 else []


def test_an_operator_creates_a_model_and_reprices_it_live(gateway_url, operator, made, make_tenant):
    # Given a model an operator creates in the console
    tenant, model_id = make_tenant("10"), unique("console/model")
    created = operator.ok(operator.post("/admin/models", model_spec(model_id, input="1", output="2")), 201)
    made["models"].append(model_id)
    first = eventually(lambda: (r := chat(gateway_url, tenant.key, model_id)).status_code == 200 and r)
    before = ledger_entry(first.headers["x-trace-id"])
    assert before is not None
    assert before["credits"] == cost(before, "1", "2")
    assert created["data"]["pricing"] == {"input": "1", "output": "2"}
    assert created["version"] >= before["catalog_version"]

    # When the operator changes its prices (cached input and a long-prompt tier too) and its output cap
    patch = {
        "display_name": model_id,  # as it was: the log does not call it a change
        "max_output_tokens": 200,
        "pricing": {"input": "3", "output": "5", "cached_input": "0.3",
                    "tiers": [{"above_prompt_tokens": 4000, "input": "6", "output": "10"}]},
    }  # fmt: skip
    changed = operator.ok(operator.patch(f"/admin/models/{model_id}", patch))

    # Then the answer is the model as stored and the catalog version that holds it, and the running
    # gateway charges the next requests at the new prices from that version on
    assert changed["data"]["pricing"]["tiers"] == [{"above_prompt_tokens": 4000, "input": "6", "output": "10"}]
    assert changed["data"]["max_output_tokens"] == 200
    assert changed["version"] > created["version"]

    def repriced() -> dict[str, Any] | None:
        entry = ledger_entry(chat(gateway_url, tenant.key, model_id).headers["x-trace-id"])
        return entry if entry and entry["catalog_version"] >= changed["version"] else None

    after = eventually(repriced)
    assert after["credits"] == cost(after, "3", "5")
    # And both changes are in the operator log with what they set
    logged = log_of(operator, model_id)
    assert [entry["action"] for entry in logged] == ["update_model", "create_model"]
    assert 'pricing.input="3"' in logged[0]["detail"]
    assert "display_name" not in logged[0]["detail"]
    assert "max_output_tokens=200" in logged[0]["detail"]

    # When it is disabled
    operator.ok(operator.patch(f"/admin/models/{model_id}", {"enabled": False}))

    # Then the gateway refuses it, at no cost
    eventually(lambda: chat(gateway_url, tenant.key, model_id).status_code == 404)
    balance = balance_of(tenant.account_id)
    refused = chat(gateway_url, tenant.key, model_id)
    assert refused.json()["error"]["code"] == "model_not_found"
    assert balance_of(tenant.account_id) == balance
    assert operator.ok(operator.get(f"/admin/models/{model_id}"))["data"]["enabled"] is False


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"pricing": {"input": "-1"}}, "pricing.input"),
        ({"pricing": {"tiers": [{"above_prompt_tokens": 10, "input": "0.5"}]}}, "pricing"),
        ({"context_length": 0}, "context_length"),
        ({"max_output_tokens": "many"}, "max_output_tokens"),
        ({"providers": [{"provider": "nowhere-at-all", "model": "x"}]}, None),
        ({"aliases": ["echo"]}, None),  # test/echo's
        ({"category": "video"}, "category"),
        ({"colour": "blue"}, "colour"),
        ({"id": "console/renamed"}, "id"),
    ],
)
def test_a_bad_model_change_is_a_400_naming_the_field_and_writes_nothing(operator, made, change, param):
    model_id = unique("console/bad")
    operator.ok(operator.post("/admin/models", model_spec(model_id)), 201)
    made["models"].append(model_id)
    version = operator.ok(operator.get("/admin/models"))["version"]

    refused = operator.patch(f"/admin/models/{model_id}", change)

    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["code"] == "invalid_request"
    if param is not None:
        assert refused.json()["error"]["param"] == param
    assert operator.ok(operator.get("/admin/models"))["version"] == version
    assert [entry["action"] for entry in log_of(operator, model_id)] == ["create_model"]


def test_models_that_cannot_be_made_or_found(operator, made):
    model_id = unique("console/twice")
    operator.ok(operator.post("/admin/models", model_spec(model_id)), 201)
    made["models"].append(model_id)
    assert operator.post("/admin/models", model_spec(model_id)).status_code == 409
    assert operator.post("/admin/models", {"display_name": "no id"}).status_code == 400
    assert operator.post("/admin/models", [model_spec(unique("console/list"))]).status_code == 400
    for odd in ({"pricing": [1]}, {"pricing": "free"}, {"providers": {"fake": "echo"}}, {"id": 7}):
        refused = operator.post("/admin/models", {**model_spec(unique("console/odd")), **odd})
        assert refused.status_code == 400, (odd, refused.text)
    assert operator.get("/admin/models/console/never-made").status_code == 404
    assert operator.patch("/admin/models/console/never-made", {"enabled": False}).status_code == 404
    assert operator.get(f"/admin/models/{'m' * 257}").status_code == 400


def test_channels_are_added_rotated_and_disabled_and_their_keys_never_shown(
    gateway_url, operator, made, make_tenant, servers, gateway_env
):
    # Given a model on the fake provider, and an upstream of its own accepting only its own key
    tenant, model_id, channel_id = make_tenant("10"), unique("console/routed"), unique("console-ch")
    operator.ok(operator.post("/admin/models", model_spec(model_id)), 201)
    made["models"].append(model_id)
    upstream = servers["console"]

    # When an operator adds a channel to it for that model, with its key, at a higher priority
    body = {"id": channel_id, "provider": "fake", "base_url": upstream.url, "api_key": upstream.key,
            "models": [model_id], "priority": 10, "rpm": 600, "note": "second account"}  # fmt: skip
    created = operator.ok(operator.post("/admin/channels", body), 201)
    made["channels"].append(channel_id)

    # Then the key went to Secrets Manager only: no answer, listing or log entry holds it
    secret = boto3.client(
        "secretsmanager", endpoint_url=gateway_env["AWS_ENDPOINT_URL_SECRETS_MANAGER"], region_name="us-east-1"
    ).get_secret_value(SecretId=created["data"]["secret_ref"])
    assert secret["SecretString"] == upstream.key
    assert created["data"]["has_secret"] is True
    listing = operator.ok(operator.get("/admin/channels"))
    (entry,) = log_of(operator, channel_id)
    for seen in (created, listing, entry):
        assert upstream.key not in json.dumps(seen)
    assert entry["action"] == "create_channel"
    assert "api_key (replaced)" in entry["detail"]
    assert {"priority=10", "rpm=600", "base_url", "note"} <= set(entry["detail"].split(", "))  # a URL by name
    assert upstream.url not in entry["detail"]
    fake = next(p for p in listing["providers"] if p["name"] == "fake")
    assert model_id in fake["models"]
    assert fake["kind"] == "openai"
    assert [c["priority"] for c in listing["data"] if c["id"] == channel_id] == [10]

    # And the gateway's next requests for the model go to it, with its own key
    answered = eventually(lambda: (r := chat(gateway_url, tenant.key, model_id)).status_code == 200 and r)
    version = eventually(lambda: (v := served(chat(gateway_url, tenant.key, model_id)))[1] == [(channel_id, 200)] and v)
    assert answered.status_code == 200
    assert upstream.chats() >= 1
    assert upstream.keys_seen() == {f"Bearer {upstream.key}"}

    # When the operator disables it
    disabled = operator.ok(operator.patch(f"/admin/channels/{channel_id}", {"enabled": False}))

    # Then requests go back to the provider's own channel
    assert disabled["data"]["enabled"] is False
    assert disabled["version"] > version[0]
    eventually(lambda: served(chat(gateway_url, tenant.key, model_id))[1] == [("fake", 200)])
    logged = log_of(operator, channel_id)
    assert [e["action"] for e in logged] == ["update_channel", "create_channel"]
    assert logged[0]["detail"] == "enabled=false"


def test_a_failing_channel_shows_its_failures_and_its_cool_down(gateway_url, operator, made, make_tenant, gateway_env):
    # Given a channel nobody listens at, tried before the provider's own channel for a model
    tenant, model_id, channel_id = make_tenant("10"), unique("console/health"), unique("console-down")
    operator.ok(operator.post("/admin/models", model_spec(model_id)), 201)
    made["models"].append(model_id)
    body = {"id": channel_id, "provider": "fake", "base_url": gateway_env["DOWN_BASE_URL"], "api_key": "sk-down",
            "models": [model_id], "priority": 10}  # fmt: skip
    operator.ok(operator.post("/admin/channels", body), 201)
    made["channels"].append(channel_id)
    eventually(lambda: any(c == channel_id for c, _ in routed(gateway_url, tenant.key, model_id)))

    # When requests fall back from it three times running
    for _ in range(2):
        assert served(chat(gateway_url, tenant.key, model_id))[1][0][0] == channel_id

    # Then its health says so: failures, three in a row, cooling; the provider's own channel answered
    aggregated()  # health reads the accounts active today, which the usage aggregator records
    health = operator.ok(operator.get("/admin/channels/health"))
    down, fake = health["channels"][channel_id], health["channels"]["fake"]
    assert (down["state"], down["attempts"], down["failures"], down["failures_in_a_row"]) == ("cooling", 3, 3, 3)
    assert down["last_failure"]["http_status"] == 502
    assert down["last_failure"]["error_code"] == "provider_error"
    assert down["provider"] == "fake"
    assert fake["state"] == "ok"
    assert fake["attempts"] >= 3
    assert fake["median_latency_ms"] is not None
    assert health["accounts_read"] >= 1
    assert health["requests_read"] >= 3
    assert not any(name.startswith("byok:") for name in health["channels"])


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"provider": "fake"}, "id"),
        ({"id": "Bad Id", "provider": "fake"}, "id"),
        ({"id": "fake", "provider": "fake"}, "id"),  # a provider's name
        ({"id": "x-chan", "provider": "no-such-provider"}, "provider"),
        ({"id": "x-chan", "provider": "fake-bedrock"}, "provider"),
        ({"id": "x-chan", "provider": "fake", "base_url": "ftp://x"}, "base_url"),
        ({"id": "x-chan", "provider": "fake", "api_key": "has spaces"}, "api_key"),
        ({"id": "x-chan", "provider": "fake", "models": ["test/claude"]}, "models"),
        ({"id": "x-chan", "provider": "fake", "priority": 5000}, "priority"),
        ({"id": "x-chan", "provider": "fake", "secret_ref": "elsewhere/secret"}, "secret_ref"),
    ],
)
def test_a_bad_channel_is_a_400_naming_the_field(operator, body, param):
    refused = operator.post("/admin/channels", body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"]["param"] == param
    assert all(c["id"] != body.get("id") for c in operator.ok(operator.get("/admin/channels"))["data"])


def test_channels_that_cannot_be_changed(operator):
    assert operator.patch("/admin/channels/never-made", {"enabled": False}).status_code == 404
    assert operator.patch(f"/admin/channels/{'c' * 65}", {"enabled": False}).status_code == 400
    assert operator.patch("/admin/channels/never-made", ["enabled"]).status_code == 400


def test_a_price_group_and_an_accounts_group(gateway_url, cognito, operator, upstream):
    # Given a customer with a key, and a price group at half price
    api = ConsoleApi(gateway_url, cognito.sign_up())
    account_id = api.ok(api.get("/me"))["account"]["account_id"]
    key = api.ok(api.post("/keys", {"name": "k"}), 201)["key"]
    group = unique("half")
    put = operator.ok(operator.put(f"/admin/groups/{group}", {"ratio": "0.5", "note": "partners"}))
    assert put["data"] == {"name": group, "ratio": "0.5", "note": "partners"}
    assert group in {g["name"] for g in operator.ok(operator.get("/admin/groups"))["data"]}

    # When the operator puts the account in it
    moved = operator.ok(operator.put(f"/admin/accounts/{account_id}/group", {"group": group}))

    # Then its next requests are priced at half, and the account's page says which group it is in
    assert moved["data"]["group"] == group
    assert operator.ok(operator.get(f"/admin/accounts/{account_id}"))["profile"]["group"] == group

    def halved() -> dict[str, Any] | None:
        entry = ledger_entry(chat(gateway_url, key, "test/echo").headers["x-trace-id"])
        return entry if entry and entry["price_ratio"] == "0.5" else None

    entry = eventually(halved)
    full_price = entry["prompt_tokens"] * Decimal("0.5") + entry["completion_tokens"] * Decimal("1.5") + 100  # micro
    assert entry["credits"] == math.ceil(full_price / 2)
    logged = list(operator.ok(operator.get("/admin/log", account=account_id))["data"])
    assert [(e["action"], e["subject"]) for e in logged] == [("set_account_group", group)]
    assert [e["action"] for e in log_of(operator, group)] == ["set_account_group", "put_group"]

    # And back to the default group
    operator.ok(operator.put(f"/admin/accounts/{account_id}/group", {"group": None}))
    assert operator.ok(operator.get(f"/admin/accounts/{account_id}"))["profile"]["group"] == "default"
    assert operator.put(f"/admin/accounts/{account_id}/group", {"group": "no-such-group"}).status_code == 400
    assert operator.put("/admin/accounts/acct_nobody/group", {"group": None}).status_code == 404
    assert operator.put(f"/admin/groups/{group}", {"ratio": "-1"}).status_code == 400
    assert operator.put("/admin/groups/Not A Slug", {"ratio": "1"}).status_code == 400
