"""Shared fixtures: DynamoDB Local (real), the table from template.yaml, a fake OpenAI upstream and
the gateway itself, each a real server on 127.0.0.1."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest

from devtools.template import ROOT

TEST_TABLE = "gateway-test"
TEST_IDEMPOTENCY_TABLE = "gateway-test-idempotency"
TEST_CATALOG = ROOT / "tests" / "fixtures" / "catalog.yaml"
CONSOLE_STARTING_CREDITS = "2.5"


@pytest.fixture(scope="session")
def dynamodb_endpoint() -> Iterator[str]:
    from devtools.dynamodb_local import DynamoDBLocal, free_port

    database = DynamoDBLocal(free_port()).start()
    yield database.endpoint
    database.stop()


@pytest.fixture(scope="session")
def fake_upstream():  # type: ignore[no-untyped-def]
    from tests.support.fake_openai import FakeOpenAI
    from tests.support.servers import ServerThread

    fake = FakeOpenAI()
    server = ServerThread(fake.app).start()
    fake.url = server.url  # type: ignore[attr-defined]
    yield fake
    fake.release()
    fake.gate.set()
    server.stop()


@pytest.fixture(scope="session")
def fake_servers():  # type: ignore[no-untyped-def]
    """Fake Anthropic, Gemini and Bedrock upstreams on loopback, speaking their wire formats."""
    from tests.support.fake_anthropic import FakeAnthropic
    from tests.support.fake_bedrock import FakeBedrock
    from tests.support.fake_gemini import FakeGemini
    from tests.support.fake_images import FakeImages
    from tests.support.servers import ServerThread

    fakes = {"anthropic": FakeAnthropic(), "gemini": FakeGemini(), "bedrock": FakeBedrock(), "images": FakeImages()}
    servers = {name: ServerThread(fake.app).start() for name, fake in fakes.items()}
    for name, fake in fakes.items():
        fake.url = servers[name].url  # type: ignore[attr-defined]
    yield fakes
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="session")
def aws_local() -> Iterator[dict[str, str]]:
    """S3, SQS, Cognito, KMS and Secrets Manager stand-ins (moto's server on loopback): the images and
    responses buckets, the task and unsettled queues, the console's user pool, the key that encrypts accounts' own
    provider keys, and channel secrets."""
    import boto3
    from moto.server import ThreadedMotoServer

    from devtools.dynamodb_local import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    credentials = {"region_name": "us-east-1", "aws_access_key_id": "test", "aws_secret_access_key": "test"}
    s3 = boto3.client("s3", endpoint_url=endpoint, **credentials)
    s3.create_bucket(Bucket="gateway-test-images")
    s3.create_bucket(Bucket="gateway-test-responses")
    queues = boto3.client("sqs", endpoint_url=endpoint, **credentials)
    queue = queues.create_queue(QueueName="image-tasks")
    unsettled = queues.create_queue(QueueName="unsettled")
    own_keys = boto3.client("kms", endpoint_url=endpoint, **credentials).create_key(Description="own provider keys")
    yield {
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ENDPOINT_URL_SQS": endpoint,
        "AWS_ENDPOINT_URL_KMS": endpoint,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint,
        "IMAGES_BUCKET": "gateway-test-images",
        "RESPONSES_BUCKET": "gateway-test-responses",
        "IMAGE_TASKS_QUEUE_URL": queue["QueueUrl"],
        "UNSETTLED_QUEUE_URL": unsettled["QueueUrl"],
        "UNSETTLED_WAIT_SECONDS": "0",  # moto is one server: a short poll sees every message
        "BYOK_KMS_KEY_ID": own_keys["KeyMetadata"]["KeyId"],
        "CHANNEL_SECRET_PREFIX": "ai-gateway/test/channels/",
        **console_pool(endpoint).environment(starting_credits=CONSOLE_STARTING_CREDITS),
    }
    server.stop()


@lru_cache(maxsize=4)
def console_pool(endpoint: str):  # type: ignore[no-untyped-def]
    """The console's user pool (as template.yaml declares it) on the session's moto server."""
    from devtools.cognito_local import create_pool

    return create_pool(endpoint)


@pytest.fixture
def secrets_manager(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Secrets Manager as the functions reach it (moto's server on loopback, through the endpoint
    override of the environment); yields a boto3 client to write secrets with."""
    import boto3
    from aws_lambda_powertools.utilities import parameters
    from moto.server import ThreadedMotoServer

    from devtools.dynamodb_local import free_port

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    for name, value in {
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    parameters.clear_caches()  # Powertools keeps its Secrets Manager client and values between calls
    yield boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1")
    parameters.clear_caches()
    server.stop()


@pytest.fixture(scope="session")
def gateway_env(dynamodb_endpoint: str, fake_upstream, fake_servers, aws_local) -> Iterator[dict[str, str]]:  # type: ignore[no-untyped-def]
    """The environment every gateway process of the test session runs with."""
    from devtools.dynamodb_local import free_port
    from tests.support.fake_anthropic import PROVIDER_KEY as ANTHROPIC_KEY
    from tests.support.fake_gemini import PROVIDER_KEY as GEMINI_KEY
    from tests.support.fake_openai import PROVIDER_KEY

    env = {
        "GATEWAY_TABLE": TEST_TABLE,
        "IDEMPOTENCY_TABLE": TEST_IDEMPOTENCY_TABLE,
        "GATEWAY_CATALOG": str(TEST_CATALOG),
        "AWS_ENDPOINT_URL_DYNAMODB": dynamodb_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_DEFAULT_REGION": "us-east-1",
        "FAKE_OPENAI_API_KEY": PROVIDER_KEY,
        "FAKE_OPENAI_BASE_URL": f"{fake_upstream.url}/v1",
        "FAKE_ANTHROPIC_API_KEY": ANTHROPIC_KEY,
        "FAKE_ANTHROPIC_BASE_URL": f"{fake_servers['anthropic'].url}/v1",
        "FAKE_GEMINI_API_KEY": GEMINI_KEY,
        "FAKE_GEMINI_BASE_URL": f"{fake_servers['gemini'].url}/v1beta",
        "FAKE_BEDROCK_REGION": "us-east-1",
        "FAKE_BEDROCK_ENDPOINT": fake_servers["bedrock"].url,
        "DOWN_BASE_URL": f"http://127.0.0.1:{free_port()}/v1",  # nothing listens there
        "FAKE_IMAGES_BASE_URL": f"{fake_servers['images'].url}/v1",
        **aws_local,
        "RUNTIME_CATALOG": "true",  # the catalog from the table (models.yaml until an operator changes it)
        "CATALOG_CHECK_SECONDS": "0.3",
        "CATALOG_MAX_STALE_SECONDS": "10",
        "UPSTREAM_TIMEOUT_SECONDS": "3",
        "HEARTBEAT_SECONDS": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "AIGateway",
        "POWERTOOLS_SERVICE_NAME": "ai-gateway",
    }
    saved = {name: os.environ.get(name) for name in [*env, "NOWHERE_API_KEY", "NOWHERE_BASE_URL"]}
    os.environ.update(env)
    os.environ.pop("NOWHERE_API_KEY", None)
    os.environ.pop("NOWHERE_BASE_URL", None)
    _reset_caches()

    from devtools.template import create_tables
    from gateway.storage import dynamo

    create_tables(dynamo.boto3_client(), {"GatewayTable": TEST_TABLE, "IdempotencyTable": TEST_IDEMPOTENCY_TABLE})
    from devtools.aggregator import StreamAggregator

    aggregator = StreamAggregator(TEST_TABLE, dynamodb_endpoint).start()
    try:
        yield env
        _assert_every_balance_matches_its_ledger()
    finally:
        aggregator.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        _reset_caches()


def _assert_every_balance_matches_its_ledger() -> None:
    """After every test that used the table: `gateway-admin audit` of every account finds no drift."""
    import json

    from gateway.billing.audit import audit_all

    aggregated()
    summary = audit_all(drained=True)
    assert summary.reports, "the suite's traffic left no account to audit"
    assert not summary.drifting, (
        "the ledger audit after the suite found drift:\n" + json.dumps(summary.view(), indent=1)[:5000]
    )


def _reset_caches() -> None:
    from gateway import caches

    caches.reset()


@pytest.fixture(scope="session")
def gateway_url(gateway_env: dict[str, str]) -> Iterator[str]:
    """Every function's routes in one uvicorn server, as `make dev` serves them."""
    from devtools.devserver import build_app
    from tests.support.servers import ServerThread

    server = ServerThread(build_app()).start()
    yield server.url
    server.stop()


@pytest.fixture(scope="module")
def proxied_gateway(gateway_env: dict[str, str], dynamodb_endpoint: str) -> Iterator[Any]:
    """The dev server's routes in this process, every DynamoDB call of the process (the gateway's and
    the tests') through the fault proxy, while the module runs: yields (url, proxy)."""
    from devtools.devserver import build_app
    from tests.support.dynamo_faults import FaultProxy
    from tests.support.servers import ServerThread

    proxy = FaultProxy(dynamodb_endpoint).start()
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = proxy.url
    _reset_caches()
    server = ServerThread(build_app()).start()
    yield server.url, proxy
    server.stop()
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = dynamodb_endpoint
    _reset_caches()
    proxy.stop()


@pytest.fixture
def upstream(fake_upstream, fake_servers):  # type: ignore[no-untyped-def]
    fake_upstream.reset()
    for fake in fake_servers.values():
        fake.reset()
    from gateway.providers import health

    health.reset()
    yield fake_upstream
    fake_upstream.release()
    fake_upstream.gate.set()


@dataclass
class Tenant:
    account_id: str
    key: str
    key_hash: str


@pytest.fixture
def make_tenant(gateway_env: dict[str, str]):  # type: ignore[no-untyped-def]
    """Creates an account with the given credits (decimal string) and an inference key."""
    from gateway.money import credits_to_micro
    from gateway.services import accounts, keys

    def make(credits: str = "10", kind: str = "inference") -> Tenant:
        account = accounts.create_account("test", credits_to_micro(credits))
        issued = keys.issue_key(account.account_id, "test key", kind)  # type: ignore[arg-type]
        return Tenant(account.account_id, issued.key, issued.record.key_hash)

    return make


def settled() -> None:
    """Wait until this process's servers have written the settlements of the answers they sent (a
    buffered answer goes out first: gateway.afterwards), and tidied the shards they settled on."""
    from gateway import afterwards
    from gateway.billing import holds

    afterwards.drain()
    holds.drain()


def aggregated() -> None:
    """Wait until the usage aggregator has added every ledger entry written so far (usage, key totals)."""
    from devtools.aggregator import drain

    settled()
    drain()


def balance_of(account_id: str) -> int:
    from gateway.services import accounts

    settled()
    return accounts.get_account(account_id).balance


def holds_of(account_id: str) -> int:
    """Micro-credits the account's balance shards hold for requests not settled yet."""
    from gateway.services import accounts

    settled()
    return accounts.get_account(account_id).holds


def ledger_entry(trace_id: str) -> dict | None:  # type: ignore[type-arg]
    from gateway.config import get_settings
    from gateway.storage.credits import CreditRepository

    settled()
    return CreditRepository(get_settings().table_name).get_entry(trace_id)


def settled_entry(trace_id: str, timeout: float = 10.0) -> dict[str, Any]:
    """The request's ledger entry once it is written (a stream settles as it ends)."""
    import time

    until = time.monotonic() + timeout
    while time.monotonic() < until:
        entry = ledger_entry(trace_id)
        if entry is not None:
            return entry
        time.sleep(0.1)
    raise AssertionError(f"{trace_id} was never settled")


def repo_root() -> Path:
    return ROOT


@pytest.fixture
def cognito(gateway_env: dict[str, str]):  # type: ignore[no-untyped-def]
    """The console's user pool: users signed up, confirmed and signed in as the page does it."""
    from tests.support.console import CognitoPool

    return CognitoPool(gateway_env)
