"""Lambda's Extensions API on 127.0.0.1, as an internal extension sees it: `register` answers with an
extension identifier; `event/next` blocks until the test hands it an event, and counts the calls (each
one after the first means the extension let an invocation end)."""

from __future__ import annotations

import json
import queue
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from devtools.dynamodb_local import free_port

IDENTIFIER = "b5d9c0f5-0000-4000-8000-extension01"


class ExtensionsApi:
    def __init__(self) -> None:
        self.port = free_port()
        self.registrations: list[dict[str, Any]] = []
        self.nexts = 0  # event/next calls received
        self.events: queue.Queue[dict[str, Any]] = queue.Queue()
        self.changed = threading.Condition()
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                if self.path != "/2020-01-01/extension/register":
                    self._answer(404, {"errorType": "NotFound"})
                    return
                api.registrations.append({"name": self.headers.get("Lambda-Extension-Name"), **body})
                self._answer(200, {"functionName": "chat", "functionVersion": "$LATEST", "handler": "run.sh"})

            def do_GET(self) -> None:
                if self.path != "/2020-01-01/extension/event/next":
                    self._answer(404, {"errorType": "NotFound"})
                    return
                if self.headers.get("Lambda-Extension-Identifier") != IDENTIFIER:
                    self._answer(403, {"errorType": "Extension.Forbidden"})
                    return
                with api.changed:
                    api.nexts += 1
                    api.changed.notify_all()
                self._answer(200, api.events.get())

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Lambda-Extension-Identifier", IDENTIFIER)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def address(self) -> str:  # AWS_LAMBDA_RUNTIME_API
        return f"127.0.0.1:{self.port}"

    def start(self) -> ExtensionsApi:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.events.put({"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": 0})
        self.server.shutdown()
        self.server.server_close()

    def invoke(self, request_id: str, seconds: float = 60.0) -> int:
        """Start an invocation: its INVOKE event goes to the extension. Returns its deadline (epoch ms)."""
        deadline = int((time.time() + seconds) * 1000)
        self.events.put({"eventType": "INVOKE", "requestId": request_id, "deadlineMs": deadline})
        return deadline

    def wait_nexts(self, count: int, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: self.nexts >= count, timeout)
