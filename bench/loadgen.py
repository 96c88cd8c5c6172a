"""A small closed-loop load generator: `concurrency` workers, each on its own keep-alive HTTP/1.1
connection to 127.0.0.1, sending until `requests` have been sent (or `max_seconds` passed).

Raw asyncio rather than an HTTP library, so the client's own cost stays small and the same for every
target. For streams, the time to first token is when the first body bytes (the first SSE event)
arrive; a request's latency is when the last byte of the response arrived.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit


@dataclass
class Sample:
    latency: float  # seconds, request sent -> response complete
    ttft: float | None  # seconds, request sent -> first body bytes (streams only)


@dataclass
class LoadResult:
    requests: int
    concurrency: int
    elapsed: float
    samples: list[Sample] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> int:
        return len(self.samples)

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed if self.elapsed else 0.0

    def latency_ms(self, q: float) -> float:
        return percentile([s.latency for s in self.samples], q) * 1000

    def ttft_ms(self, q: float) -> float:
        return percentile([s.ttft for s in self.samples if s.ttft is not None], q) * 1000


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank-interpolated percentile (q in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[max(0, min(998, round(q * 10) - 1))]


class HttpError(Exception):
    pass


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> Sample:
        if self.writer is None:
            await self._open()
        assert self.reader is not None
        assert self.writer is not None
        started = time.perf_counter()
        self.writer.write(raw)
        reader = self.reader
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length: int | None = None
        chunked = False
        keep_alive = True
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                keep_alive = False
        first: float | None = None
        body = bytearray()
        if chunked:
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                body += await reader.readexactly(size)
                if first is None:
                    first = time.perf_counter()
                await reader.readexactly(2)
        elif length is not None:
            body += await reader.readexactly(length)
        else:
            body += await reader.read()
            keep_alive = False
        done = time.perf_counter()
        if not keep_alive:
            self.close()
        if status != 200:
            raise HttpError(f"HTTP {status}: {bytes(body[:200]).decode(errors='replace')}")
        return Sample(done - started, (first - started) if first is not None else None)


def build_request(url: str, body: dict[str, object] | None, headers: dict[str, str]) -> tuple[str, int, bytes]:
    parts = urlsplit(url)
    assert parts.hostname == "127.0.0.1", "the bench only sends traffic to 127.0.0.1"
    payload = json.dumps(body).encode() if body is not None else b""
    method = "POST" if body is not None else "GET"
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1", f"host: 127.0.0.1:{parts.port}", "accept: */*"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body is not None:
        lines += ["content-type: application/json", f"content-length: {len(payload)}"]
    raw = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + payload
    return "127.0.0.1", int(parts.port or 80), raw


async def run_load(
    url: str,
    body: dict[str, object] | None,
    headers: dict[str, str] | list[dict[str, str]],
    *,
    requests: int,
    concurrency: int,
    max_seconds: float = 120.0,
) -> LoadResult:
    """`headers` may be a list: worker i sends headers[i % len(headers)] (one key per worker, say)."""
    variants = [build_request(url, body, h) for h in (headers if isinstance(headers, list) else [headers])]
    host, port, _ = variants[0]
    result = LoadResult(requests=requests, concurrency=concurrency, elapsed=0.0)
    remaining = requests
    deadline = time.monotonic() + max_seconds

    async def worker(index: int) -> None:
        nonlocal remaining
        raw = variants[index % len(variants)][2]
        connection = Connection(host, port)
        try:
            while remaining > 0 and time.monotonic() < deadline:
                remaining -= 1
                try:
                    result.samples.append(await asyncio.wait_for(connection.request(raw), timeout=30))
                except (TimeoutError, HttpError, OSError, asyncio.IncompleteReadError, ValueError) as error:
                    key = str(error)[:120] or type(error).__name__
                    result.errors[key] = result.errors.get(key, 0) + 1
                    connection.close()
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    result.elapsed = time.perf_counter() - started
    return result
