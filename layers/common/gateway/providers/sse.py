"""Opening and reading an upstream's SSE stream (all HTTP providers), and their JSON POSTs.

The event-stream decoder is ours: httpx-sse's is tied to httpx responses (and private), and no kept
library decodes `text/event-stream` from plain bytes; the OpenAI and Anthropic SDKs keep their own
for the same reason. It follows the WHATWG rules the gateway needs: lines end in CRLF, LF or CR;
`event` and `data` fields (several `data` lines joined by LF); comments, `id` and `retry` ignored;
an event without data is not dispatched, nor one the stream ended before its blank line."""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from gateway.providers.errors import UpstreamFailure, UpstreamRefusal
from gateway.providers.http import ErrorReader, opened, raise_for_status, read_whole, send, stall_guard, upstream_errors

_LINE_END = re.compile(r"\r\n|\r|\n")
JSON_HEADERS = {"content-type": "application/json"}  # the spelling providers' own headers use


class EventDecoder:
    """Bytes as they arrive in, (event name, data) out, for each complete event with data."""

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial_line: list[str] = []  # the pieces of a line not yet ended (a long one may span many chunks)
        self._after_cr = False  # a CR ended the last chunk: an LF opening the next belongs to it
        self._started = False
        self._name = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        text = self._text.decode(chunk)
        if not self._started and text:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._after_cr and text:
            self._after_cr = False
            text = text.removeprefix("\n")
        if text:
            self._after_cr = text.endswith("\r")
        lines = _LINE_END.split(text)  # only the new text is searched: no rescan of a long line's start
        if len(lines) == 1:
            self._partial_line.append(text)
            return []
        lines[0] = "".join(self._partial_line) + lines[0]
        self._partial_line = [lines.pop()]
        return [event for line in lines if (event := self._line(line)) is not None]

    def _line(self, line: str) -> tuple[str, str] | None:
        if not line:
            name, data = self._name or "message", self._data
            self._name, self._data = "", []
            joined = "\n".join(data)
            return (name, joined) if joined else None  # an event whose data is empty is not dispatched
        if line.startswith(":"):
            return None
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            self._name = value
        elif field == "data":
            self._data.append(value)
        return None


@asynccontextmanager
async def open_events(
    url: str, body: dict[str, Any], headers: dict[str, str], error_from: ErrorReader
) -> AsyncIterator[AsyncIterator[tuple[str, str]]]:
    """POSTs `body`; once the upstream answered 200, yields its events as (event name, data)."""
    async with opened(url, encoded(body), {**headers, **JSON_HEADERS}) as response:
        if response.status != 200 or response.content_type != "text/event-stream":
            with upstream_errors():
                content = await read_whole(response)
            raise_for_status(response.status, content, response.headers, error_from)
            # a 200 that is not a stream would read as a stream with no events: an empty, charged answer
            raise UpstreamFailure("the provider answered a stream request without an event stream", status=502)

        async def events() -> AsyncIterator[tuple[str, str]]:
            decoder = EventDecoder()
            with (
                upstream_errors("the provider stopped sending", "the provider's stream broke"),
                stall_guard(response) as guard,
            ):
                while chunk := await guard.read():
                    for event in decoder.feed(chunk):
                        yield event

        yield events()


async def post_json(url: str, body: dict[str, Any], headers: dict[str, str], error_from: ErrorReader) -> dict[str, Any]:
    answer = await send("POST", url, {**headers, **JSON_HEADERS}, data=encoded(body))
    raise_for_status(answer.status, answer.content, answer.headers, error_from)
    try:
        payload = json.loads(answer.content)
    except (ValueError, RecursionError) as error:
        raise UpstreamFailure("the provider sent a response that is not JSON", status=502) from error
    if not isinstance(payload, dict):
        raise UpstreamFailure("the provider sent an unexpected response", status=502)
    return payload


def encoded(body: dict[str, Any]) -> bytes:
    """A JSON body as httpx's `json=` encoded it (what upstreams received before). NaN and Infinity,
    which Python's JSON reader lets a client send, are not JSON: the request is refused unsent."""
    try:
        return json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    except ValueError:
        raise UpstreamRefusal(400, "the request holds a number JSON cannot carry (NaN or Infinity)") from None


def parse(data: str) -> dict[str, Any]:
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise UpstreamFailure("the provider sent an event that is not JSON") from error
    if not isinstance(payload, dict):
        raise UpstreamFailure("the provider sent an unexpected event")
    return payload
