"""The seed platforms' documented examples, replayed against the gateway as `make dev` serves it
(every function's routes in one uvicorn server on 127.0.0.1, DynamoDB Local, image tasks worked in
process), with the shipped model catalog and fake upstreams on loopback speaking each provider's
wire format. Only the base URL and the key of each example change."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.config import DEFAULT_CATALOG

CREDITS = "100"  # what `make dev` gives its demo account


@pytest.fixture(scope="package")
def seed_catalog(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped catalog as it is, plus one operator setting: unlisted `openai/...` ids pass through
    (at 5 / 20 credits per 1M tokens), which the examples of failing upstreams use (`openai/fail-500`
    and `openai/rate-limited` are what the fake upstream fails on)."""
    shipped = yaml.safe_load(DEFAULT_CATALOG.read_text(encoding="utf-8"))
    shipped["providers"]["openai"]["passthrough"] = {"pricing": {"input": "5", "output": "20"}}
    path = tmp_path_factory.mktemp("catalog") / "models.yaml"
    path.write_text(yaml.safe_dump(shipped, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="package")
def openai_upstream():  # type: ignore[no-untyped-def]
    """One OpenAI-compatible upstream for the `openai` (and `deepseek`) provider: chat, embeddings,
    audio and images, as api.openai.com serves them all under one base URL."""
    from starlette.applications import Starlette

    from tests.support.fake_images import FakeImages
    from tests.support.fake_openai import FakeOpenAI
    from tests.support.servers import ServerThread

    chat, images = FakeOpenAI(), FakeImages()
    server = ServerThread(Starlette(routes=[*chat.app.routes, *images.app.routes])).start()
    chat.url = images.url = server.url  # type: ignore[attr-defined]
    yield Upstream(server.url, chat, images)
    chat.release()
    chat.gate.set()
    server.stop()


@dataclass
class Upstream:
    url: str
    chat: Any  # FakeOpenAI
    images: Any  # FakeImages


@pytest.fixture(scope="package")
def seed_gateway(gateway_url, gateway_env, seed_catalog, openai_upstream, fake_servers) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The gateway's URL, serving the shipped catalog with every provider it names configured (on the
    fakes) but Bedrock, and no task queue (the worker runs in the server, as under `make dev`)."""
    from gateway.providers import health
    from tests.conftest import _reset_caches
    from tests.support.fake_anthropic import PROVIDER_KEY as ANTHROPIC_KEY
    from tests.support.fake_gemini import PROVIDER_KEY as GEMINI_KEY
    from tests.support.fake_openai import PROVIDER_KEY as OPENAI_KEY

    env = {
        "GATEWAY_CATALOG": str(seed_catalog),
        "OPENAI_API_KEY": OPENAI_KEY,
        "OPENAI_BASE_URL": f"{openai_upstream.url}/v1",
        "DEEPSEEK_API_KEY": OPENAI_KEY,
        "DEEPSEEK_BASE_URL": f"{openai_upstream.url}/v1",
        "ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "ANTHROPIC_BASE_URL": f"{fake_servers['anthropic'].url}/v1",
        "GEMINI_API_KEY": GEMINI_KEY,
        "GEMINI_BASE_URL": f"{fake_servers['gemini'].url}/v1beta",
    }
    unset = ("IMAGE_TASKS_QUEUE_URL", "BEDROCK_REGION", "BEDROCK_ENDPOINT_URL")
    saved = {name: os.environ.get(name) for name in (*env, *unset)}
    os.environ.update(env)
    for name in unset:
        os.environ.pop(name, None)
    aside = _set_runtime_catalog_aside()
    _reset_caches()
    health.reset()
    yield gateway_url
    _put_back_runtime_catalog(aside)
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _reset_caches()
    health.reset()


def _set_runtime_catalog_aside() -> list[dict[str, Any]]:
    """The table's catalog partition as earlier tests left it (an operator's models and channels),
    taken out, so that the seeds meet the shipped catalog whichever tests ran before them."""
    from gateway.config import get_settings
    from gateway.storage import dynamo, layout

    client, table = dynamo.boto3_client(), get_settings().table_name
    items: list[dict[str, Any]] = []
    for page in client.get_paginator("query").paginate(
        TableName=table,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": layout.CATALOG_PK}},
        ConsistentRead=True,
    ):
        items += page["Items"]
    for item in items:
        client.delete_item(TableName=table, Key={"pk": item["pk"], "sk": item["sk"]})
    return items


def _put_back_runtime_catalog(items: list[dict[str, Any]]) -> None:
    """The partition as it was before the seeds ran (theirs, if any, taken out first)."""
    from gateway.config import get_settings
    from gateway.storage import dynamo

    _set_runtime_catalog_aside()
    client, table = dynamo.boto3_client(), get_settings().table_name
    for item in items:
        client.put_item(TableName=table, Item=item)


@dataclass
class User:
    """A new user of the gateway: an account with credits, its API key, and a management key."""

    account_id: str
    key: str
    key_hash: str
    management: str


@pytest.fixture
def user(seed_gateway, openai_upstream, fake_servers) -> User:  # type: ignore[no-untyped-def]
    from gateway.money import credits_to_micro
    from gateway.providers import health
    from gateway.services import accounts, keys

    openai_upstream.chat.reset()
    openai_upstream.images.reset()
    for fake in fake_servers.values():
        fake.reset()
    health.reset()
    account = accounts.create_account("Seed user", credits_to_micro(CREDITS), email="user@example.com")
    issued = keys.issue_key(account.account_id, "default", "inference")
    management = keys.issue_key(account.account_id, "ops", "management").key
    return User(account.account_id, issued.key, issued.record.key_hash, management)
