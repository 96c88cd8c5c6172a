"""Storage code on the loop behaves as the worker thread it replaced, where a caller can tell:

1. under a cancelled anyio scope (fail_after, move_on_after, a task group's cancel) the function's
   result is handed back and the scope's cancellation comes at the next checkpoint, as around
   anyio.to_thread.run_sync; the wait for it is not a busy loop;
2. traced (X-Ray), DynamoDB subsegments opened in greenlets are kept off the thread's one entity
   stack, so overlapping calls (another request, the speculative upstream call) never close each
   other's, and a refused hold stays a DynamoError (not AlreadyEndedException: a 500)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import anyio
import anyio.to_thread

from gateway.storage import on_loop

ROOT = Path(__file__).resolve().parents[3]


def _write() -> str:
    """A hold written in 200 ms: its caller needs the reservation to release or settle it."""
    on_loop.pause(0.2)
    return "reservation"


def test_under_a_cancelled_anyio_scope_the_result_is_handed_back_as_a_worker_thread_does() -> None:
    async def main() -> tuple[str | None, str | None]:
        by_thread = by_loop = None
        with anyio.move_on_after(0.01):
            by_thread = await anyio.to_thread.run_sync(time.sleep, 0.2) or "reservation"
        try:
            with anyio.move_on_after(0.01):
                by_loop = await on_loop.run(_write)
        except asyncio.CancelledError:
            by_loop = "CancelledError escaped the scope"
        return by_thread, by_loop

    assert asyncio.run(main()) == ("reservation", "reservation")


def test_fail_after_around_run_lets_no_bare_cancellation_escape_as_around_a_worker_thread() -> None:
    async def outcome(call) -> str:  # type: ignore[no-untyped-def]
        try:
            with anyio.fail_after(0.01):
                return str(await call())
        except TimeoutError:
            return "TimeoutError"
        except asyncio.CancelledError:
            return "CancelledError escaped fail_after"

    async def main() -> tuple[str, str]:
        by_thread = await outcome(lambda: anyio.to_thread.run_sync(lambda: time.sleep(0.2) or "reservation"))
        return by_thread, await outcome(lambda: on_loop.run(_write))

    by_thread, by_loop = asyncio.run(main())
    assert by_loop == by_thread, (by_thread, by_loop)


def test_no_busy_loop_while_a_cancelled_caller_waits_for_the_write() -> None:
    wakeups = 0
    real_wait = asyncio.wait

    async def counting_wait(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal wakeups
        wakeups += 1
        return await real_wait(*args, **kwargs)

    async def main() -> None:
        asyncio.wait = counting_wait  # type: ignore[assignment]
        try:
            with anyio.move_on_after(0.01):
                await on_loop.run(_write)
        except asyncio.CancelledError:
            pass
        finally:
            asyncio.wait = real_wait

    asyncio.run(main())
    assert wakeups < 10, f"run() woke {wakeups} times during one 200 ms write"


def _traced(script: str) -> str:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "layers" / "common"), str(ROOT)]),
        "LAMBDA_TASK_ROOT": "/var/task",
        "_X_AMZN_TRACE_ID": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:9",
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    return done.stdout + done.stderr


_SERVER = """
import asyncio, json, threading, time, zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from gateway.observability import upstream_subsegment
from gateway.storage import on_loop
from gateway.storage.dynamo_client import DynamoClient, DynamoError
from gateway.storage.sigv4 import Credentials

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        if body["TableName"] == "refused":
            time.sleep(0.2)
            status, payload = 400, {"__type": "x#ConditionalCheckFailedException", "message": "failed"}
        else:
            time.sleep(0.05)
            status, payload = 200, {}
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-length", str(len(data)))
        self.send_header("x-amz-crc32", str(zlib.crc32(data)))
        self.end_headers()
        self.wfile.write(data)
    def log_message(self, *args):
        pass

server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
client = DynamoClient(f"http://127.0.0.1:{server.server_port}", "us-east-1", lambda: Credentials("a", "b"))

def refused_hold():
    try:
        client.update_item(TableName="refused")
    except DynamoError as error:
        return "DynamoError " + error.code

async def outcome(task):
    try:
        return await task
    except BaseException as error:
        return type(error).__name__
"""


def test_traced_overlapping_dynamodb_calls_keep_a_refusal_a_dynamo_error() -> None:
    # two requests on one loop (Lambda Managed Instances): the first write ends before the second's refusal
    output = _traced(
        _SERVER
        + """
async def main():
    first = asyncio.ensure_future(on_loop.run(client.get_item, TableName="fast"))
    await asyncio.sleep(0.01)
    second = asyncio.ensure_future(on_loop.run(refused_hold))
    await first
    print("RESULT", await outcome(second))
asyncio.run(main())
"""
    )
    assert "RESULT DynamoError ConditionalCheckFailedException" in output, output


def test_traced_speculative_hold_refused_after_a_fast_upstream_failure_stays_a_dynamo_error() -> None:
    # one speculative request: its upstream call fails fast while its hold is in flight, then the hold is refused
    output = _traced(
        _SERVER
        + """
async def upstream():
    async with upstream_subsegment("openai", "gpt-x", stream=False):
        await asyncio.sleep(0.02)
        raise ConnectionRefusedError("upstream down")

async def main():
    up = asyncio.ensure_future(upstream())
    await asyncio.sleep(0)
    held = asyncio.ensure_future(on_loop.run(refused_hold))
    print("UPSTREAM", await outcome(up))
    print("RESULT", await outcome(held))
asyncio.run(main())
"""
    )
    assert "UPSTREAM ConnectionRefusedError" in output, output
    assert "RESULT DynamoError ConditionalCheckFailedException" in output, output
