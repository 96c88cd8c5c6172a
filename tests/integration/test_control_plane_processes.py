"""The control plane across processes, as in Lambda: the chat function started by its run.sh (its own
process, its own caches, its logs captured at DEBUG), while changes are made from this process as the
admin and keys functions make them. Each reaches the chat function's next requests without a restart,
and no key of a channel or an account ever reaches its logs."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.dynamodb_local import free_port
from devtools.template import ROOT
from gateway.services import byok, catalog_admin, channel_admin, keys
from gateway.storage.stores import stores
from tests.conftest import ledger_entry
from tests.support.control import Upstream, chat, eventually, unique
from tests.support.recording_stores import principal


@pytest.fixture(scope="module")
def chat_function(gateway_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    log_file = tmp_path_factory.mktemp("chat") / "chat.log"
    port = free_port()
    env = {
        **os.environ,
        **gateway_env,
        "PORT": str(port),
        "PYTHONPATH": str(ROOT / "layers" / "common"),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
    }
    with log_file.open("wb") as sink:
        process = subprocess.Popen([str(ROOT / "functions" / "chat" / "run.sh")], env=env, stdout=sink, stderr=sink)
        url = f"http://127.0.0.1:{port}"
        try:
            eventually(lambda: _healthy(url), seconds=20)
            yield url, log_file
        finally:
            process.terminate()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def lane(gateway_env: dict[str, str]) -> Iterator[dict[str, Any]]:
    """A provider whose fake upstream accepts the platform channel's key and a customer's own key."""
    server = Upstream("procs")
    customer_key = f"sk-own-{unique('k')}"
    server.fake.accepted.add(f"Bearer {customer_key}")
    provider, model = unique("ops-procs"), unique("ops/procs")
    catalog_admin.put_provider(provider, {"kind": "openai", "default_base_url": server.url})
    channel = channel_admin.create_channel({"id": unique("ch-procs"), "provider": provider}, server.key)
    catalog_admin.create_model(
        {
            "id": model, "display_name": "Procs", "owned_by": "ops", "context_length": 8192,
            "max_output_tokens": 100, "pricing": {"input": "1", "output": "2"},
            "providers": [{"provider": provider, "model": "echo"}],
        }
    )  # fmt: skip
    yield {"server": server, "provider": provider, "model": model, "channel": channel["id"], "own": customer_key}
    channel_admin.delete_channel(channel["id"])
    catalog_admin.delete_model(model)
    catalog_admin.delete_provider(provider)
    server.stop()


def entry_of(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    # the function's process writes the settlement right after the answer
    return eventually(lambda: ledger_entry(response.headers["x-trace-id"]), seconds=10)


def test_changes_made_elsewhere_reach_the_chat_functions_next_requests(chat_function, lane, make_tenant):
    url, log_file = chat_function
    owner = make_tenant("10", kind="management")
    inference = keys.issue_key(owner.account_id, "calls", "inference").key
    server: Upstream = lane["server"]

    # a channel added at runtime serves the function, with its own key
    first = eventually(lambda: (r := chat(url, inference, lane["model"])).status_code == 200 and r)
    assert entry_of(first)["attempts"][0]["channel"] == lane["channel"]
    assert server.keys_seen() == {f"Bearer {server.key}"}

    # a price change is charged within seconds
    catalog_admin.update_model(lane["model"], {"pricing": {"input": "4", "output": "8"}})

    def repriced() -> dict[str, Any] | None:
        entry = entry_of(chat(url, inference, lane["model"]))
        exact = entry["prompt_tokens"] * 4 + entry["completion_tokens"] * 8
        return entry if entry["credits"] == exact else None

    eventually(repriced)

    # the account's own key, registered by another process, serves its very next request
    byok.set_key(principal(account_id=owner.account_id), lane["provider"], lane["own"])
    own = entry_of(chat(url, inference, lane["model"]))
    assert (own["byok"], own["price_ratio"]) == (True, "0.05")
    assert server.keys_seen() == {f"Bearer {server.key}", f"Bearer {lane['own']}"}
    assert own["credits"] == math.ceil((own["prompt_tokens"] * 4 + own["completion_tokens"] * 8) * Decimal("0.05"))

    # a price group set elsewhere prices the next request too
    group = unique("procs-half")
    channel_admin.put_group(group, {"ratio": "0.5"})
    byok.delete_key(principal(account_id=owner.account_id), lane["provider"])
    assert stores().profiles.set_group(owner.account_id, group) is not None

    def halved() -> dict[str, Any] | None:
        entry = entry_of(chat(url, inference, lane["model"]))
        return entry if entry["price_ratio"] == "0.5" else None

    assert eventually(halved)["byok"] is False
    channel_admin.delete_group(group)

    # a disabled channel leaves the model unserved within seconds
    channel_admin.update_channel(lane["channel"], {"enabled": False})
    eventually(lambda: chat(url, inference, lane["model"]).status_code == 503)
    channel_admin.update_channel(lane["channel"], {"enabled": True})

    time.sleep(0.5)  # the last lines reach the file
    logged = log_file.read_text(encoding="utf-8", errors="replace")
    assert "catalog loaded" in logged  # the function did reload, and said so
    for secret in (server.key, lane["own"], inference):
        assert secret not in logged


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=0.5).status_code == 200
    except httpx.TransportError:
        return False
