"""Work a request leaves for after its answer is sent (a buffered chat answer's settlement): run by the
request's middleware once the response is complete, so the client does not wait for it.

In Lambda that is safe only if the environment is not frozen before the work is done. Lambda freezes
it once the runtime and every extension have asked for their next event, and behind the Web Adapter
the runtime asks as soon as the response is sent. So, during init, `start_extension` registers this
process as an internal extension (the Extensions API) and, for each invocation, asks for the next
event only once that invocation's request is finished: its answer and its leftover work. Where no
extension is registered in Lambda (the buffered functions under Mangum, a failed registration, or
`SETTLE_AFTER_ANSWER=false`), nothing is left for later: the work runs before the answer.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import anyio

from gateway.observability import in_lambda, logger

if TYPE_CHECKING:
    import urllib.request

Work = Callable[[], Awaitable[Any]]
EXTENSION_NAME = "gateway-afterwards"
_FINISHED_KEPT = 256  # request ids remembered as finished (one environment serves one at a time)
_STRAY_REQUEST_SECONDS = 5.0  # an invocation whose request has not reached this process by then: none will


class _Left(list[Work]):
    """The work one request left; closed once it ran (work left later runs at once)."""

    closed = False


_left: ContextVar[_Left | None] = ContextVar("work_after_answer", default=None)
_state = threading.Condition()
_running = 0  # work left by requests and not finished (all requests of this process)
_serving = 0  # requests inside `serve`
_finished: deque[str] = deque(maxlen=_FINISHED_KEPT)  # Lambda request ids whose request is over
_extension_ready = False


def deferring() -> bool:
    """Whether work can be left for after the answer here: off Lambda (a server that keeps running), or
    in Lambda with the extension registered."""
    if not _enabled():
        return False
    return _extension_ready or not in_lambda()


async def after_answer(work: Work) -> None:
    """Run `work` once the answer is sent, or now when that cannot be promised (not within a request
    served by `serve`, or nothing keeps the environment awake)."""
    left = _left.get()
    if left is None or left.closed or not deferring():
        await work()
        return
    global _running
    with _state:
        _running += 1
    left.append(work)


async def serve(app: Any, scope: Any, receive: Any, send: Any, request_ids: Iterable[str] = ()) -> None:
    """Call the ASGI app for one request, then the work it left, shielded from cancellation (the
    client may be gone); then mark the request's Lambda invocations finished, whatever happened."""
    global _serving
    left = _Left()
    token = _left.set(left)
    with _state:
        _serving += 1
    try:
        try:
            await app(scope, receive, send)
        finally:
            _left.reset(token)
            with anyio.CancelScope(shield=True):
                for work in left:
                    await _run(work)
            left.closed = True
    finally:
        with _state:
            _serving -= 1
            _finished.extend(request_ids)
            _state.notify_all()


async def _run(work: Work) -> None:
    global _running
    try:
        await work()
    except Exception:  # the answer is out; the work's own code records what it could not do
        logger().exception("work after the answer failed")
    finally:
        with _state:
            _running -= 1
            _state.notify_all()


def drain(timeout: float = 20.0) -> None:
    """Wait until the work every request of this process left is done (tests read the ledger after)."""
    with _state:
        if not _state.wait_for(lambda: _running == 0, timeout):
            raise TimeoutError("work left after answers did not finish")


def start_extension() -> None:
    """In Lambda (init phase), register as an internal extension for INVOKE events and keep each
    invocation open until its request is finished. Failing that, work is not deferred."""
    global _extension_ready
    api = os.environ.get("AWS_LAMBDA_RUNTIME_API")
    if _extension_ready or not api or not in_lambda() or not _enabled():
        return
    base = f"http://{api}/2020-01-01/extension"
    try:
        registered = _call(
            f"{base}/register",
            {"Lambda-Extension-Name": EXTENSION_NAME},
            json.dumps({"events": ["INVOKE"]}).encode(),
        )
        identifier = registered.headers["Lambda-Extension-Identifier"]
    except Exception:
        logger().warning("could not register the extension: settlements are written before answers")
        return
    _extension_ready = True
    threading.Thread(target=_follow, args=(base, identifier), name=EXTENSION_NAME, daemon=True).start()


def _enabled() -> bool:
    return os.environ.get("SETTLE_AFTER_ANSWER", "true").lower() != "false"


def _follow(base: str, identifier: str) -> None:
    """Ask for each event; an invocation is released once its request is finished (see
    `wait_for_request`). Never gives up: Lambda waits for a registered extension."""
    global _extension_ready
    failures = 0
    while True:
        try:
            answer = _call(f"{base}/event/next", {"Lambda-Extension-Identifier": identifier})
            event = json.loads(answer.read())
            if isinstance(event, dict) and event.get("eventType") == "INVOKE":
                wait_for_request(str(event.get("requestId", "")), event.get("deadlineMs"))
            failures = 0
        except Exception:
            failures += 1
            logger().exception("the extension's event failed")
            if failures >= 3:  # the Extensions API is gone: stop promising to keep invocations open
                _extension_ready = False
            time.sleep(min(0.05 * 2**failures, 1.0))


def wait_for_request(request_id: str, deadline_ms: Any = None, stray_seconds: float = _STRAY_REQUEST_SECONDS) -> bool:
    """Block until the invocation's request is finished and no work is left (True), or until no request
    has reached this process `stray_seconds` after the invocation began (one that never will), or 0.5 s
    before the deadline."""
    now = time.time()
    budget = 900.0
    if isinstance(deadline_ms, int | float) and 0 < deadline_ms < 10**14:
        budget = max(deadline_ms / 1000 - now - 0.5, 0.0)
    began = time.monotonic()

    def over() -> bool:
        if _running:
            return False
        return request_id in _finished or (not _serving and time.monotonic() - began >= stray_seconds)

    with _state:
        while not over():
            left = budget - (time.monotonic() - began)
            if left <= 0:
                return False
            _state.wait(min(left, 0.5))
        return request_id in _finished


def request_ids(header_values: Iterable[str]) -> list[str]:
    """The Lambda request ids in the Web Adapter's `x-amzn-lambda-context` header values."""
    found = []
    for value in header_values:
        try:
            context = json.loads(value) if len(value) <= 8192 else None
        except (ValueError, RecursionError):  # a client's own header, in functions the adapter is not in front of
            continue
        if isinstance(context, dict) and isinstance(context.get("request_id"), str):
            found.append(context["request_id"][:128])
    return found


@functools.cache
def _direct() -> urllib.request.OpenerDirector:
    """Built when the extension starts, not at import: an opener loads the system's CA certificates
    (~17 ms of every function's cold start, chat's extension being the only user)."""
    import urllib.request

    return urllib.request.build_opener(urllib.request.ProxyHandler({}))  # the Runtime API is local: no proxy


def _call(url: str, headers: dict[str, str], body: bytes | None = None) -> Any:
    import urllib.request

    method = "POST" if body is not None else "GET"
    request = urllib.request.Request(url, data=body, headers=headers, method=method)  # noqa: S310 - http, the Runtime API
    return _direct().open(request, timeout=None)
