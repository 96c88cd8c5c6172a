"""The streaming functions' Lambda entry (run.sh -> uvicorn) serves their app over real HTTP: chat
streams chunk by chunk, images and audio answer whole bodies that no buffered integration limits."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from devtools.template import ROOT
from gateway.billing.holds import RELEASE_MARGIN_SECONDS
from gateway.billing.sweeper import sweep_expired
from gateway.clock import now_epoch
from gateway.config import get_settings
from gateway.services import accounts
from gateway.storage import layout
from gateway.storage.ledger import LedgerReader
from tests.conftest import balance_of, holds_of
from tests.support.lambda_events import LambdaContext
from tests.support.servers import start_function, stop_function


@pytest.fixture
def chat_function(gateway_env) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    process, url = start_function("chat", gateway_env)
    yield process, url
    stop_function(process)


def test_run_sh_streams_the_first_chunk_before_the_upstream_finishes(chat_function, upstream, make_tenant):
    # Given the chat function started as the Lambda Web Adapter starts it
    _, url = chat_function
    tenant = make_tenant("10")
    body = {"model": "test/gated-stream", "messages": [{"role": "user", "content": "a b c"}], "stream": True}
    # When a client streams a completion whose upstream pauses after its first piece
    with httpx.stream(
        "POST", f"{url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {tenant.key}"}, timeout=20
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        first_content = None
        for line in lines:
            if line.startswith("data: ") and '"content": "echo: "' in line.replace('":"', '": "'):
                first_content = line
                break
        # Then the first piece arrived while the upstream was still waiting to send the rest
        assert first_content is not None
        assert not upstream.gate.is_set()
        upstream.gate.set()
        rest = [line for line in lines if line.startswith("data: ")]
    assert rest[-1] == "data: [DONE]"
    assert balance_of(tenant.account_id) < 10_000_000


def test_a_killed_function_leaves_a_hold_that_the_sweeper_releases(chat_function, upstream, make_tenant):
    process, url = chat_function
    tenant = make_tenant("10")
    body = {"model": "test/hold", "messages": [{"role": "user", "content": "never answered"}], "stream": True}
    headers = {"Authorization": f"Bearer {tenant.key}"}
    with ThreadPoolExecutor(max_workers=1) as pool:
        # Given a request in flight: credits held, the upstream holding it
        pending = pool.submit(httpx.post, f"{url}/v1/chat/completions", json=body, headers=headers, timeout=20)
        deadline = time.monotonic() + 10
        while upstream.held < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert upstream.held == 1
        # When the function dies before it can settle
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        with pytest.raises(httpx.HTTPError):
            pending.result()
    account = accounts.get_account(tenant.account_id)
    ((window, held),) = [item for shard in account.balance_shards for item in shard.held.items() if item[1]]
    assert account.balance == 10_000_000 - held < 10_000_000
    # Then nothing is released before the hold's window has ended
    assert sweep_expired(now=now_epoch()).released == 0
    assert holds_of(tenant.account_id) == held
    # And the sweeper function, once it has, gives the hold back in full, with a release entry
    after = layout.window_end(window) + RELEASE_MARGIN_SECONDS + 1
    assert run_sweeper_handler(now=after)["released_micro"] >= held
    assert balance_of(tenant.account_id) == 10_000_000
    assert holds_of(tenant.account_id) == 0
    (release,) = LedgerReader(get_settings().table_name).releases(tenant.account_id)
    assert (release.amount, release.window) == (held, window)
    # And sweeping again changes nothing
    assert sweep_expired(now=after).released == 0
    assert balance_of(tenant.account_id) == 10_000_000


def run_sweeper_handler(now: int) -> dict[str, int]:
    """The sweeper function's own handler, driven with a chosen clock."""
    import importlib.util

    import gateway.billing.sweeper as sweeper

    spec = importlib.util.spec_from_file_location("sweeper_app", ROOT / "functions" / "sweeper" / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    original = sweeper.now_epoch
    sweeper.now_epoch = lambda: now  # type: ignore[assignment]
    try:
        return dict(module.handler({"source": "aws.events"}, LambdaContext(function_name="SweeperFunction")))
    finally:
        sweeper.now_epoch = original  # type: ignore[assignment]
