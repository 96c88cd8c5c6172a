"""`make dev` as a developer runs it (`python -m devtools.devserver`: its own DynamoDB Local, moto, the
shipped catalog seeded on first start), with an OpenAI-compatible fake upstream as its `openai`
provider. While it runs, an operator changes a price, adds a model, adds and disables a channel, a
customer registers its own key and redeems a code: each takes effect on the next requests, with no
restart."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.dynamodb_local import free_port
from devtools.template import ROOT
from tests.support.control import AdminApi, Upstream, chat, eventually
from tests.support.fake_openai import PROVIDER_KEY

KEPT = ("PATH", "HOME", "LANG", "JAVA_HOME", "DYNAMODB_LOCAL_HOME", "TMPDIR")


class DevServer:
    def __init__(self, url: str, dynamodb: str, output: Path) -> None:
        self.url, self.dynamodb, self.output = url, dynamodb, output

    def printed(self, pattern: str) -> str:
        found = re.search(pattern, self.output.read_text(encoding="utf-8", errors="replace"))
        assert found, f"make dev did not print {pattern}"
        return found.group(0)


@pytest.fixture(scope="module")
def dev(fake_upstream: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    folder = tmp_path_factory.mktemp("make-dev")
    port, dynamodb = free_port(), free_port()
    env = {
        **{name: os.environ[name] for name in KEPT if name in os.environ},
        "PORT": str(port),
        "DYNAMODB_PORT": str(dynamodb),
        "MOTO_PORT": str(free_port()),
        "DATA_DIR": str(folder / "data"),
        "OPENAI_API_KEY": PROVIDER_KEY,
        "OPENAI_BASE_URL": f"{fake_upstream.url}/v1",
        "CATALOG_CHECK_SECONDS": "1",
        "PYTHONPATH": str(ROOT),
    }
    output = folder / "dev.log"
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "devtools.devserver"], cwd=ROOT, env=env, stdout=sink, stderr=sink
        )
        server = DevServer(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{dynamodb}", output)
        try:
            eventually(lambda: _up(server.url) or process.poll() is not None, seconds=90, every=0.5)
            assert process.poll() is None, output.read_text()
            yield server
        finally:
            process.terminate()
            process.wait(timeout=30)


def charged(dev: DevServer, key: str, model: str) -> dict[str, Any] | None:
    """The ledger entry of one request, read from make dev's own table."""
    import boto3

    response = chat(dev.url, key, model)
    if response.status_code != 200:
        return None
    client = boto3.client(
        "dynamodb", endpoint_url=dev.dynamodb, region_name="us-east-1",
        aws_access_key_id="local", aws_secret_access_key="local",
    )  # fmt: skip
    key_of_entry = {"pk": {"S": f"TRACE#{response.headers['x-trace-id']}"}, "sk": {"S": "TRACE"}}
    # written by make dev's process right after the answer
    item = eventually(lambda: client.get_item(TableName="ai-gateway", Key=key_of_entry).get("Item"), seconds=10)
    from gateway.storage.dynamo import from_item

    return from_item(item)


def test_a_running_make_dev_takes_every_change_without_a_restart(dev, fake_upstream):
    demo = dev.printed(r"sk-gw-[A-Za-z0-9_-]{20,}")
    operator = AdminApi(dev.url, dev.printed(r"sk-gwo-[A-Za-z0-9_-]{20,}"))
    assert operator.get("/catalog")["seeded"] is True
    fake_upstream.reset()

    # the shipped price, then a new one
    before = charged(dev, demo, "gpt-4o-mini")
    assert before is not None
    assert before["credits"] == math.ceil(
        before["prompt_tokens"] * Decimal("0.15") + before["completion_tokens"] * Decimal("0.6")
    )
    operator.patch("/models/openai/gpt-4o-mini", {"pricing": {"input": "100", "output": "200"}})
    eventually(
        lambda: (
            (e := charged(dev, demo, "gpt-4o-mini"))
            and e["credits"] == e["prompt_tokens"] * 100 + e["completion_tokens"] * 200
        )
    )

    # a model added
    operator.post(
        "/models",
        {
            "id": "local/tiny", "display_name": "Tiny", "owned_by": "local", "context_length": 4096,
            "max_output_tokens": 64, "pricing": {"input": "1", "output": "1"},
            "providers": [{"provider": "openai", "model": "tiny-1"}],
        },
    )  # fmt: skip
    eventually(lambda: chat(dev.url, demo, "local/tiny").status_code == 200)
    assert fake_upstream.calls("tiny-1")

    # a channel added ahead of the built-in one, then disabled
    second = Upstream("dev-b")
    try:
        operator.post(
            "/channels",
            {"id": "openai-b", "provider": "openai", "base_url": second.url, "api_key": second.key, "priority": 10},
        )
        eventually(lambda: (e := charged(dev, demo, "local/tiny")) and e["channel"] == "openai-b")
        assert second.keys_seen() == {f"Bearer {second.key}"}
        operator.patch("/channels/openai-b", {"enabled": False})
        eventually(lambda: (e := charged(dev, demo, "local/tiny")) and e["channel"] == "openai")
    finally:
        second.stop()

    # the demo account's own OpenAI key, registered with a management key
    management = _management_key(dev)
    own = "sk-demo-own-openai-key"
    fake_upstream.accepted.add(f"Bearer {own}")
    try:
        registered = httpx.put(f"{dev.url}/api/v1/provider-keys/openai", json={"key": own}, headers=_auth(management))
        assert registered.status_code == 200, registered.text
        served = charged(dev, demo, "local/tiny")
        assert served is not None
        assert (served["byok"], served["price_ratio"]) == (True, "0.05")
        assert fake_upstream.headers[-1]["authorization"] == f"Bearer {own}"
    finally:
        fake_upstream.accepted.discard(f"Bearer {own}")

    # a code minted and redeemed, once
    (code,) = operator.call("POST", "/codes", json={"credits": "3"}, expect=201, whole=True)["codes"]
    quota = httpx.get(f"{dev.url}/api/user/self/quota", headers=_auth(demo)).json()["quota"]
    assert httpx.post(f"{dev.url}/api/user/topup", json={"key": code}, headers=_auth(demo)).json()["data"] == 3.0
    assert httpx.get(f"{dev.url}/api/user/self/quota", headers=_auth(demo)).json()["quota"] == pytest.approx(quota + 3)
    assert httpx.post(f"{dev.url}/api/user/topup", json={"key": code}, headers=_auth(demo)).status_code == 400


def _management_key(dev: DevServer) -> str:
    script = Path(sys.executable).parent / "gateway-admin"
    env = {**{n: os.environ[n] for n in KEPT if n in os.environ}, "AWS_ENDPOINT_URL_DYNAMODB": dev.dynamodb}
    answer = subprocess.run(
        [str(script), "create-key", "--account", "demo", "--name", "owner", "--management"],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return str(json.loads(answer.stdout)["key"])


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_a_key_in_a_url_is_redacted_from_make_devs_access_log(dev):
    # Given a Gemini client that puts its key in the URL, as Google's REST samples do
    secret = "sk-gw-" + "q7" * 20
    answer = httpx.post(
        f"{dev.url}/v1beta/models/gemini-2.5-flash:generateContent",
        params={"alt": "sse", "key": secret},
        json={"contents": []},
        timeout=30,
    )
    assert answer.status_code == 401  # no such key
    # Then the access log names the request, its key redacted
    line = 'generateContent?alt=sse&key=[redacted] HTTP/1.1" 401'  # httpx escapes the colon: %3A
    eventually(lambda: line in dev.output.read_text(encoding="utf-8", errors="replace"), seconds=10, every=0.2)
    assert secret not in dev.output.read_text(encoding="utf-8", errors="replace")


def _up(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=0.5).status_code == 200
    except httpx.TransportError:
        return False
