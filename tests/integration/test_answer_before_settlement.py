"""A buffered chat answer goes out before its settlement is written, and in Lambda the environment is
kept awake until it is: the chat function (run.sh, as the Web Adapter starts it) registers as an
internal extension during init, and lets each invocation end only once its request is settled.
Lambda's Extensions API is a fake on loopback; DynamoDB is DynamoDB Local behind the fault proxy,
which holds the settlement back."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devtools.template import ROOT
from gateway import afterwards
from tests.conftest import balance_of, ledger_entry
from tests.support.dynamo_faults import Fault, FaultProxy
from tests.support.lambda_runtime import ExtensionsApi
from tests.support.servers import start_function, stop_function


@dataclass
class LambdaChat:
    url: str
    extensions: ExtensionsApi
    proxy: FaultProxy


def _start(env: dict[str, str], dynamodb_endpoint: str, **extra: str) -> Iterator[LambdaChat]:
    extensions = ExtensionsApi().start()
    proxy = FaultProxy(dynamodb_endpoint).start()
    lambda_env = {
        **env,
        "AWS_ENDPOINT_URL_DYNAMODB": proxy.url,
        "LAMBDA_TASK_ROOT": str(Path(ROOT, "functions", "chat")),
        "AWS_LAMBDA_RUNTIME_API": extensions.address,
        **extra,
    }
    process, url = start_function("chat", lambda_env)
    try:
        yield LambdaChat(url, extensions, proxy)
    finally:
        stop_function(process)
        proxy.stop()
        extensions.stop()


@pytest.fixture
def lambda_chat(gateway_env: dict[str, str], dynamodb_endpoint: str) -> Iterator[LambdaChat]:
    yield from _start(gateway_env, dynamodb_endpoint)


def _chat(chat: LambdaChat, key: str, request_id: str, deadline_ms: int) -> httpx.Response:
    context = {"request_id": request_id, "deadline": deadline_ms, "invoked_function_arn": "arn:aws:lambda:chat"}
    return httpx.post(
        f"{chat.url}/v1/chat/completions",
        json={"model": "test/echo", "messages": [{"role": "user", "content": "settle after"}]},
        headers={"Authorization": f"Bearer {key}", "x-amzn-lambda-context": json.dumps(context)},
        timeout=30,
    )


def _answered_then_settled(chat: LambdaChat, key: str, invocation: int) -> dict[str, object]:
    """One invocation's buffered request, its settlement held back at DynamoDB: the answer comes first,
    the invocation ends once it is settled. Returns the ledger entry."""
    chat.proxy.arm(Fault("TransactWriteItems", 1, 1, "pause"))
    request_id = str(uuid.uuid4())
    response = _chat(chat, key, request_id, chat.extensions.invoke(request_id))
    # Then the client has its whole answer before the settlement is written
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "echo: settle after"
    assert chat.proxy.paused.wait(10)
    trace = response.headers["x-trace-id"]
    assert ledger_entry(trace) is None
    # And the invocation does not end (Lambda would freeze the environment) until it is settled
    time.sleep(0.3)
    assert chat.extensions.nexts == invocation
    chat.proxy.resume()
    assert chat.extensions.wait_nexts(invocation + 1, 10)
    chat.proxy.disarm()
    entry = ledger_entry(trace)
    assert entry is not None
    assert entry["status"] == "success"
    return entry


def test_the_answer_goes_out_first_and_the_invocation_ends_once_it_is_settled(lambda_chat, upstream, make_tenant):
    # Given the chat function in Lambda: registered for INVOKE events during init, waiting for the first
    assert lambda_chat.extensions.registrations == [{"name": afterwards.EXTENSION_NAME, "events": ["INVOKE"]}]
    assert lambda_chat.extensions.wait_nexts(1, 10)
    tenant = make_tenant("10")
    # When an invocation's buffered request is answered while its settlement is held back; then the
    # next one, whose key and shards this process now knows (its upstream call starts alongside its hold)
    first = _answered_then_settled(lambda_chat, tenant.key, 1)
    second = _answered_then_settled(lambda_chat, tenant.key, 2)
    # Then each was charged once, exactly what its ledger entry says
    assert balance_of(tenant.account_id) == 10_000_000 - int(first["credits"]) - int(second["credits"])  # type: ignore[call-overload]


def test_an_invocation_whose_request_never_arrives_ends_long_before_its_deadline(lambda_chat):
    assert lambda_chat.extensions.wait_nexts(1, 10)
    began = time.monotonic()
    lambda_chat.extensions.invoke(str(uuid.uuid4()), seconds=600)
    assert lambda_chat.extensions.wait_nexts(2, 15)
    assert time.monotonic() - began < 15


@pytest.fixture
def settling_first(gateway_env: dict[str, str], dynamodb_endpoint: str) -> Iterator[LambdaChat]:
    yield from _start(gateway_env, dynamodb_endpoint, SETTLE_AFTER_ANSWER="false")


def test_with_deferral_off_nothing_registers_and_the_settlement_comes_before_the_answer(
    settling_first, upstream, make_tenant
):
    tenant = make_tenant("10")
    request_id = str(uuid.uuid4())
    response = _chat(settling_first, tenant.key, request_id, int((time.time() + 60) * 1000))
    assert response.status_code == 200
    assert settling_first.extensions.registrations == []
    assert ledger_entry(response.headers["x-trace-id"]) is not None
