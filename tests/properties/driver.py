"""One example of the property suite: a funded tenant, one request through the rig's gateway (the
DynamoDB proxy armed with the example's fault, the upstream scripted), then the audit before and after
the sweeper has run past every hold."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import httpx

from gateway.billing.sweeper import sweep_expired
from gateway.money import credits_to_micro
from gateway.providers import health
from gateway.services import accounts, keys
from tests.properties.audit import Books, audit_account, past_every_hold
from tests.properties.rig import Rig
from tests.support.dynamo_faults import Call, Fault
from tests.support.scripted import SCRIPT, TOKEN, Behaviour, Produced

Endpoint = Literal["openai", "anthropic", "gemini", "images", "speech", "embeddings"]
CHAT_MODELS = ("test/echo", "test/claude", "test/gemini")  # upstreams: fake OpenAI, Anthropic, Gemini
IDLE_TIMEOUT = 20.0  # seconds the gateway may take to finish a request after the client is done


@dataclass(frozen=True)
class Request:
    endpoint: Endpoint
    model: str
    body: dict[str, Any]
    stream: bool = False

    @property
    def path(self) -> str:
        if self.endpoint == "gemini":
            method = "streamGenerateContent?alt=sse" if self.stream else "generateContent"
            return f"/v1beta/models/{self.model}:{method}"
        return {
            "openai": "/v1/chat/completions",
            "anthropic": "/v1/messages",
            "images": "/v1/images/generations",
            "speech": "/v1/audio/speech",
            "embeddings": "/v1/embeddings",
        }[self.endpoint]


def chat_request(endpoint: Endpoint, model: str, text: str, stream: bool, fields: dict[str, Any]) -> Request:
    """A chat request in the endpoint's own format; `fields` (dotted paths) are placed as given."""
    from tests.properties.strategies import place

    body: dict[str, Any]
    if endpoint == "openai":
        body = {"model": model, "messages": [{"role": "user", "content": text}]}
        if stream:
            body |= {"stream": True, "stream_options": {"include_usage": True}}
    elif endpoint == "anthropic":
        body = {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}
    else:
        body = {"contents": [{"role": "user", "parts": [{"text": text}]}]}
    for path, value in fields.items():
        body = place(body, path, value)
    return Request(endpoint, model, body, stream)


@dataclass
class Result:
    status: int  # 0: no answer at all
    trace_id: str | None
    raw: bytes
    transport_error: str | None = None

    @property
    def delivered(self) -> int:
        """Visible output tokens that reached the client, in any format."""
        return len(TOKEN.findall(self.raw))

    def json(self) -> Any:
        try:
            return json.loads(self.raw)
        except ValueError:
            return None


def send(rig: Rig, request: Request, key: str, *, leave_after: int | None = None) -> Result:
    """POSTs the request (NaN and infinities sent as Python's json writes them); `leave_after`: hang up
    once that many output tokens arrived (a client that goes away mid-stream)."""
    content = json.dumps(request.body, allow_nan=True).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    received: list[bytes] = []
    try:
        with rig.http.stream("POST", request.path, content=content, headers=headers) as response:
            result = Result(response.status_code, response.headers.get("x-trace-id"), b"")
            try:
                for chunk in response.iter_raw():
                    received.append(chunk)
                    if leave_after is not None and len(TOKEN.findall(b"".join(received))) >= leave_after:
                        break
            except httpx.HTTPError as error:
                result.transport_error = type(error).__name__
    except httpx.HTTPError as error:
        return Result(0, None, b"", type(error).__name__)
    result.raw = b"".join(received)
    return result


@dataclass
class Example:
    """What one run left behind, for the per-request properties."""

    request: Request
    marker: str
    behaviour: Behaviour | None
    fault: Fault | None
    granted: int
    result: Result
    calls: list[Call]
    before: Books  # audited before the sweeper ran
    books: Books  # audited after it ran past every hold
    records: list[Produced] = field(default_factory=list)  # what the scripted upstream produced
    seen_upstream: bool = False

    @property
    def entry(self) -> dict[str, Any] | None:
        return self.books.entries[0] if self.books.entries else None


def run(
    rig: Rig,
    make: Callable[[str], Request],  # the request, given the marker to put in its prompt
    *,
    behaviour: Behaviour | None = None,
    fault: Fault | None = None,
    credits: str = "10",
) -> Example:
    granted = credits_to_micro(credits)
    account = accounts.create_account("props", granted)
    key = keys.issue_key(account.account_id, "props", "inference").key
    marker = SCRIPT.plan(behaviour or Behaviour())
    request = make(marker)
    for fake in rig.fakes.values():
        fake.reset()
    health.reset()
    leave = behaviour.after if behaviour is not None and behaviour.ending == "client_gone" else None
    rig.proxy.arm(fault)
    try:
        result = send(rig, request, key, leave_after=leave)
        idle = rig.gateway.wait_idle(IDLE_TIMEOUT)
    finally:
        SCRIPT.release(marker)  # a held upstream answers nothing more
        calls = rig.proxy.disarm()
    try:
        assert idle, "the gateway was still working on the request long after the client was done"
        before = audit_account(account.account_id, granted, swept=False)
        sweep_expired(now=past_every_hold())
        books = audit_account(account.account_id, granted, swept=True)
        return Example(
            request, marker, behaviour, fault, granted, result, calls, before, books,
            records=SCRIPT.records(marker), seen_upstream=_seen(rig, f"[[script:{marker}]]"),
        )  # fmt: skip
    finally:
        SCRIPT.forget(marker)


def _seen(rig: Rig, marker: str) -> bool:
    """Whether any fake upstream received a request holding the marker."""
    for fake in rig.fakes.values():
        recorded = getattr(fake, "requests", None) or [seen.body for seen in getattr(fake, "seen", [])]
        if any(marker in json.dumps(body, ensure_ascii=False) for body in recorded):
            return True
    return False
