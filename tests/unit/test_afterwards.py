"""gateway.afterwards on its own: work left for after the answer runs once the app is done (or at once
where it cannot be promised), an invocation is held only while its request or its work is under way,
and a client's own `x-amzn-lambda-context` header is read without failing."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

from gateway import afterwards
from gateway.deadline import from_lambda_context


def _app(order: list[str], fail: bool = False):  # type: ignore[no-untyped-def]
    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        async def work() -> None:
            order.append("work")

        await afterwards.after_answer(work)
        order.append("answered")
        if fail:
            raise RuntimeError("the app failed after leaving work")

    return app


def test_work_left_runs_after_the_app_and_its_invocation_is_then_finished():
    order: list[str] = []
    asyncio.run(afterwards.serve(_app(order), {}, None, None, ["req-1"]))
    assert order == ["answered", "work"]
    assert afterwards.wait_for_request("req-1", stray_seconds=0)


def test_work_left_by_an_app_that_then_fails_still_runs_and_finishes_the_invocation():
    order: list[str] = []
    with pytest.raises(RuntimeError):
        asyncio.run(afterwards.serve(_app(order, fail=True), {}, None, None, ["req-2"]))
    assert order == ["answered", "work"]
    assert afterwards.wait_for_request("req-2", stray_seconds=0)


def test_outside_a_served_request_or_with_deferral_off_the_work_runs_at_once(monkeypatch):
    order: list[str] = []
    asyncio.run(_app(order)(None, None, None))
    assert order == ["work", "answered"]
    monkeypatch.setenv("SETTLE_AFTER_ANSWER", "false")
    order.clear()
    asyncio.run(afterwards.serve(_app(order), {}, None, None))
    assert order == ["work", "answered"]


def test_in_lambda_without_the_extension_nothing_is_deferred(monkeypatch):
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    order: list[str] = []
    asyncio.run(afterwards.serve(_app(order), {}, None, None))
    assert order == ["work", "answered"]


def test_an_invocation_whose_request_never_comes_is_released_after_the_stray_wait():
    began = time.monotonic()
    assert not afterwards.wait_for_request("never-arrives", stray_seconds=0.2)
    assert 0.2 <= time.monotonic() - began < 2


def test_an_invocation_is_held_while_a_request_is_being_served():
    release = threading.Event()

    async def slow(scope, receive, send):  # type: ignore[no-untyped-def]
        await asyncio.to_thread(release.wait, 5)

    serving = threading.Thread(target=lambda: asyncio.run(afterwards.serve(slow, {}, None, None, ["req-slow"])))
    serving.start()
    time.sleep(0.1)
    began = time.monotonic()
    threading.Timer(0.6, release.set).start()
    assert afterwards.wait_for_request("req-slow", stray_seconds=0.1)
    assert time.monotonic() - began >= 0.5
    serving.join()


@pytest.mark.parametrize(
    "value",
    ["[" * 5000, "{" * 4000, "null", "[]", '{"request_id": 7}', "x" * 9000, '{"deadline": "soon"}'],
    ids=["deep-list", "deep-object", "null", "list", "number-id", "oversized", "text-deadline"],
)
def test_a_clients_own_lambda_context_header_is_ignored_not_fatal(value):
    assert afterwards.request_ids([value]) == []
    assert from_lambda_context([value]) is None


def test_the_adapters_request_id_is_read():
    header = json.dumps({"request_id": "8476a536-e9f4-11e8-9739-2dfe598c3fcd", "deadline": 1_700_000_000_000})
    assert afterwards.request_ids([header, "[[["]) == ["8476a536-e9f4-11e8-9739-2dfe598c3fcd"]
