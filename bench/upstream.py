"""A minimal, fast OpenAI-compatible upstream on 127.0.0.1 (raw asyncio, HTTP/1.1 keep-alive).

POST .../chat/completions answers after a fixed latency, either one JSON body with `usage` or, for
`"stream": true`, an SSE stream of CHUNKS content chunks, a finish chunk, a usage chunk and [DONE].
POST /_latency?ms=N sets the latency for the next requests (the bench switches 0 ms / 50 ms).

Run: python -m bench.upstream PORT
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

CHUNKS = 20
USAGE = {"prompt_tokens": 12, "completion_tokens": CHUNKS, "total_tokens": 12 + CHUNKS}
latency_s = 0.0


def _completion(model: str) -> bytes:
    return json.dumps(
        {
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": " ".join(["word"] * CHUNKS)},
                    "finish_reason": "stop",
                }
            ],
            "usage": USAGE,
        }
    ).encode()


def _event(model: str, delta: dict[str, object] | None, finish: str | None = None, usage: bool = False) -> bytes:
    chunk: dict[str, object] = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [] if usage else [{"index": 0, "delta": delta or {}, "finish_reason": finish}],
    }
    if usage:
        chunk["usage"] = USAGE
    data = b"data: " + json.dumps(chunk).encode() + b"\n\n"
    return b"%x\r\n%s\r\n" % (len(data), data)


def _stream_parts(model: str, include_usage: bool) -> list[bytes]:
    parts = [_event(model, {"role": "assistant", "content": ""})]
    parts += [_event(model, {"content": "word "}) for _ in range(CHUNKS)]
    parts.append(_event(model, {}, finish="stop"))
    if include_usage:
        parts.append(_event(model, None, usage=True))
    done = b"data: [DONE]\n\n"
    parts.append(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
    return parts


async def _serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    global latency_s
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, target, _ = lines[0].split(" ", 2)
            length = 0
            close = False
            for line in lines[1:]:
                name, _, value = line.partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value)
                elif name == "connection" and value.strip().lower() == "close":
                    close = True
            body = await reader.readexactly(length) if length else b""
            if target.startswith("/_latency"):
                latency_s = int(target.split("ms=", 1)[1]) / 1000
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            elif method == "POST" and target.endswith("/chat/completions"):
                request = json.loads(body)
                model = str(request.get("model", "gpt-4o-mini"))
                if latency_s:
                    await asyncio.sleep(latency_s)
                if request.get("stream"):
                    include_usage = bool((request.get("stream_options") or {}).get("include_usage"))
                    writer.write(
                        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
                    )
                    for part in _stream_parts(model, include_usage):
                        writer.write(part)
                        await writer.drain()  # one write per event, as a real upstream sends them
                else:
                    payload = _completion(model)
                    writer.write(
                        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                        % (len(payload), payload)
                    )
            else:
                writer.write(b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
            if close:
                break
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def main(port: int) -> None:
    server = await asyncio.start_server(_serve, "127.0.0.1", port, backlog=512)
    print(f"fake upstream on 127.0.0.1:{port}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
