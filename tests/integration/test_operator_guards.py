"""What an operator key cannot do, and what a careless operator change cannot break: send a platform
secret to a server of its choosing, replace a live channel's key with a refused change, delete
another channel's secret, widen a channel by deleting its model, write by import what a create
refuses, mint codes no listing can show, or price a model into requests the credit store refuses."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from gateway.catalog import live
from gateway.storage import vault
from tests.conftest import balance_of, ledger_entry
from tests.integration.test_operator_cli import admin
from tests.integration.test_runtime_catalog import model_spec
from tests.support.control import AdminApi, Upstream, chat, eventually, operator, unique, upstreams

__all__ = ["operator"]


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, Upstream]]:
    yield from upstreams("a", "b", "elsewhere")


@pytest.mark.parametrize(
    ("spec", "param"),
    [
        ({"api_key_env": "AWS_SECRET_ACCESS_KEY"}, "api_key_env"),  # the function role's own credentials
        ({"api_key_env": "FAKE_ANTHROPIC_API_KEY"}, "api_key_env"),  # a shipped provider's key, elsewhere
        ({"api_key_env": "FAKE_OPENAI_API_KEY", "base_url_env": "FAKE_ANTHROPIC_BASE_URL"}, "api_key_env"),
        ({"api_key_env": "NEW_VENDOR_API_KEY", "base_url_env": "AWS_SESSION_TOKEN"}, "base_url_env"),
    ],
    ids=["aws-secret", "another-providers-key", "a-key-sent-to-another-providers-url", "aws-variable-as-url"],
)
def test_an_operator_key_cannot_send_a_platform_secret_to_a_server_of_its_choosing(
    operator: AdminApi, servers: dict[str, Upstream], spec: dict[str, str], param: str
):
    provider = unique("guard-env")
    version = operator.get("/catalog")["version"]
    refused = operator.put(
        f"/providers/{provider}", {"kind": "openai", "default_base_url": servers["elsewhere"].url, **spec}, expect=400
    )
    assert refused["error"]["param"] == f"providers.{provider}.{param}"
    assert os.environ.get(spec["api_key_env"], "\0") not in json.dumps(refused)
    assert operator.get("/catalog")["version"] == version  # nothing written


def test_a_provider_may_name_its_own_setting_or_use_a_shipped_key_where_the_catalog_sends_it(operator: AdminApi):
    own, shipped_home = unique("guard-own"), unique("guard-home")
    try:
        operator.put(f"/providers/{own}", {"kind": "openai", "api_key_env": "NEW_VENDOR_API_KEY",
                                           "default_base_url": "https://api.vendor.example/v1"})  # fmt: skip
        # the fixture catalog sends FAKE_OPENAI_API_KEY to FAKE_IMAGES_BASE_URL too
        operator.put(
            f"/providers/{shipped_home}",
            {"kind": "openai", "api_key_env": "FAKE_OPENAI_API_KEY", "base_url_env": "FAKE_IMAGES_BASE_URL"},
        )
    finally:
        operator.http.delete(f"/api/admin/providers/{own}")
        operator.http.delete(f"/api/admin/providers/{shipped_home}")


@pytest.fixture
def lane(operator: AdminApi, servers: dict[str, Upstream], upstream: Any) -> Iterator[Any]:
    """A provider serving two models, with no key of its own: its channels, added by the test, give it keys."""

    class Lane:
        provider = unique("guard-up")
        models: ClassVar[list[str]] = [unique("guard/x"), unique("guard/y")]
        channels: ClassVar[list[str]] = []

        def add(self, server: str, *, channel_id: str | None = None, **settings: Any) -> str:
            channel_id = channel_id or unique(f"ch-{server}")
            body = {"id": channel_id, "provider": self.provider, "base_url": servers[server].url}
            operator.post("/channels", {**body, "api_key": servers[server].key, **settings})
            self.channels.append(channel_id)
            return channel_id

    made = Lane()
    made.channels = []
    operator.put(f"/providers/{made.provider}", {"kind": "openai"})
    for model_id in made.models:
        operator.post("/models", {**model_spec(model_id), "providers": [{"provider": made.provider, "model": "echo"}]})
    yield made
    for channel_id in made.channels:
        operator.http.delete(f"/api/admin/channels/{channel_id}")
    for model_id in made.models:
        operator.http.delete(f"/api/admin/models/{model_id}")
    operator.http.delete(f"/api/admin/providers/{made.provider}")


def secret_of(operator: AdminApi, channel_id: str) -> str:
    """The key the channel's secret holds now, as a process reading it afresh gets it."""
    return vault.read_secret(operator.get(f"/channels/{channel_id}")["secret_ref"])


def test_a_refused_channel_change_writes_no_key(gateway_url, operator, lane, servers, make_tenant):
    tenant = make_tenant("10")
    channel = lane.add("a")
    eventually(lambda: chat(gateway_url, tenant.key, lane.models[0]).status_code == 200)
    # a create under a taken id, and a patch with a bad field, each with another key
    body = {"id": channel, "provider": lane.provider, "base_url": servers["a"].url, "api_key": "sk-other"}
    assert operator.post("/channels", body, expect=409)["error"]["code"] == "conflict"
    refused = operator.patch(f"/channels/{channel}", {"weight": -1, "api_key": "sk-rotated-but-refused"}, expect=400)
    assert refused["error"]["param"] == "weight"
    # the live channel's secret still holds its own key, for every process that reads it anew
    assert secret_of(operator, channel) == servers["a"].key
    vault.channel_secrets.clear()
    assert chat(gateway_url, tenant.key, lane.models[0]).status_code == 200


def test_deleting_a_channel_deletes_only_the_secret_made_for_it(gateway_url, operator, lane, servers):
    base = unique("ch-shared")
    owner = lane.add("a", channel_id=f"{base}-b")
    ref = operator.get(f"/channels/{owner}")["secret_ref"]
    operator.post("/channels", {"id": base, "provider": lane.provider, "base_url": servers["a"].url, "secret_ref": ref})
    operator.delete(f"/channels/{base}")  # its name is a prefix of the other channel's secret's name
    assert secret_of(operator, owner) == servers["a"].key


def test_a_model_a_channel_alone_serves_cannot_be_deleted_from_under_it(gateway_url, operator, lane, make_tenant):
    tenant = make_tenant("10")
    x, y = lane.models
    only_x = lane.add("a", priority=10, models=[x])
    other = lane.add("b", models=[y])
    eventually(lambda: len([c for c in live.snapshot().channels if c.provider == lane.provider]) == 2)
    # deleting x would leave only_x with no models, which means every model of its provider
    refused = operator.delete(f"/models/{x}", expect=400)
    assert only_x in refused["error"]["message"]
    answered = chat(gateway_url, tenant.key, y)
    entry = ledger_entry(answered.headers["x-trace-id"])
    assert entry is not None
    assert [attempt["channel"] for attempt in entry["attempts"]] == [other]
    # once the channel is changed, the model goes
    operator.patch(f"/channels/{only_x}", {"models": [y]})
    operator.delete(f"/models/{x}")
    lane.models.remove(x)


@pytest.mark.parametrize(
    ("document", "param"),
    [
        ({"models": [model_spec("guard'$(touch${IFS}/tmp/pwned)'x")]}, "id"),
        ({"models": [{**model_spec("guard/alias-quote"), "aliases": ['my "model"']}]}, "aliases[0]"),
        ({"providers": {"Bad Name; rm -rf": {"kind": "openai"}}}, "providers.Bad Name; rm -rf"),
        ({"providers": {"guard-aws": {"kind": "openai", "api_key_env": "AWS_SECRET_ACCESS_KEY"}}},
         "providers.guard-aws.api_key_env"),
        ({"channels": [{"id": "guard-elsewhere", "provider": "fake",
                        "secret_ref": "arn:aws:secretsmanager:us-east-1:1:secret:elsewhere/key"}]}, "secret_ref"),
        ({"models": [model_spec("guard/twice", input="1"), model_spec("guard/twice", input="9")]}, "models"),
    ],
    ids=["model-id-with-shell", "alias-with-quotes", "provider-name", "provider-env", "channel-secret", "twice"],
)  # fmt: skip
def test_an_import_refuses_what_a_create_refuses(operator: AdminApi, document: dict[str, Any], param: str):
    version = operator.get("/catalog")["version"]
    refused = operator.post("/catalog/import", document, expect=400)
    assert (refused["error"]["code"], refused["error"]["param"]) == ("invalid_request", param)
    assert operator.get("/catalog")["version"] == version


def test_a_request_dearer_than_one_hold_may_be_is_a_400_that_touches_no_credit(
    gateway_url, operator, upstream, make_tenant
):
    model_id = unique("guard/dear")
    dear = {**model_spec(model_id, input="1", output="1000000"), "max_output_tokens": 2_000_000}
    operator.post("/models", dear)
    try:
        tenant = make_tenant("5000000")
        answered = eventually(lambda: (r := chat(gateway_url, tenant.key, model_id)).status_code != 404 and r)
        assert answered.status_code == 400, answered.text
        assert answered.json()["error"]["code"] == "invalid_request"
        assert balance_of(tenant.account_id) == 5_000_000_000_000
        assert upstream.requests == []
    finally:
        operator.http.delete(f"/api/admin/models/{model_id}")


@pytest.mark.parametrize("days", ["0", "-1", "100000000"])
def test_the_cli_mints_no_code_that_never_expires_or_expires_past_any_listing(gateway_env, operator, days):
    before = operator.get("/codes", whole=True)["data"][:1]
    result = admin(gateway_env, "codes", "mint", "--credits", "5", "--expires-in-days", days)
    assert result.returncode != 0
    assert json.loads(result.stderr.strip().splitlines()[-1])["error"].startswith("A code expires in the future")
    assert operator.get("/codes", whole=True)["data"][:1] == before


def test_a_patch_nested_deeper_than_any_spec_is_a_400(operator: AdminApi):
    model = unique("guard/deep")
    operator.post("/models", model_spec(model))
    nested = '"x"'
    for _ in range(990):  # the JSON parser takes it; a recursive merge would not
        nested = '{"a":' + nested + "}"
    for path in (f"/models/{model}", "/settings"):
        response = operator.http.patch(
            f"/api/admin{path}", content='{"pricing":' + nested + "}", headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, response.text[:300]
        assert "nested" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"display_name": "x" * 420_000}, "display_name"),
        ({"owned_by": "x" * 1_000}, "owned_by"),
        ({"capabilities": ["tools"] * 65}, "capabilities"),
        ({"capabilities": ["x" * 65]}, "capabilities.0"),
        ({"aliases": [f"guard/a{i}" for i in range(65)]}, "aliases"),
        ({"providers": [{"provider": "fake", "model": "m" * 513}]}, "providers.0.model"),
        ({"pricing": {"input": "1", "output": "2", "image": {"x" * 120_000: "1"}}}, "pricing"),
    ],
    ids=["display-name", "owned-by", "capabilities", "capability", "aliases", "upstream-name", "larger-than-an-item"],
)
def test_a_model_too_large_for_the_table_is_a_400_naming_the_field(operator: AdminApi, change, param):
    version = operator.get("/catalog")["version"]
    model = unique("guard/big")
    refused = operator.post("/models", {**model_spec(model), **change}, expect=400)
    assert refused["error"]["param"].endswith(param), refused["error"]
    assert operator.get("/catalog")["version"] == version
