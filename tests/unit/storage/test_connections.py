"""The DynamoDB client's connections: kept alive between requests, and replaced when the server
closed one while it was idle or said it would."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from devtools.dynamodb_local import free_port
from gateway.storage.connections import TRANSPORT_ERRORS, Connections


class Server:
    """Answers each POST with its body; records the client port of each request. `close_after`: close
    the connection after answering, saying so (`announce`) or not."""

    def __init__(self) -> None:
        self.ports: list[int] = []
        self.close_after = False
        self.announce = False
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                server.ports.append(self.client_address[1])
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                if server.close_after and server.announce:
                    self.send_header("connection", "close")
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = server.close_after

            def log_message(self, *args: Any) -> None:
                pass

        class Http(ThreadingHTTPServer):
            def shutdown_request(self, request: Any) -> None:
                super().shutdown_request(request)
                server.closed.release()  # the server's side of a connection is closed

        self.closed = threading.Semaphore(0)
        self.http = Http(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def connections(self) -> Connections:
        endpoint = f"http://127.0.0.1:{self.http.server_port}"
        return Connections(endpoint, connect_timeout=1, read_timeout=2, max_idle=4)


@pytest.fixture
def server() -> Iterator[Server]:
    started = Server()
    yield started
    started.http.shutdown()


def test_requests_share_one_kept_alive_connection(server: Server) -> None:
    connections = server.connections()
    answers = [connections.post("/", f"{n}".encode(), {"content-type": "text/plain"}) for n in range(3)]
    assert [(answer.status, answer.data) for answer in answers] == [(200, b"0"), (200, b"1"), (200, b"2")]
    assert len(set(server.ports)) == 1


@pytest.mark.parametrize("announce", [True, False], ids=["said so", "silently"])
def test_a_connection_the_server_closed_is_replaced(server: Server, announce: bool) -> None:
    server.close_after, server.announce = True, announce
    connections = server.connections()
    first = connections.post("/", b"a", {})
    assert server.closed.acquire(timeout=5)  # closed while idle, before the next request
    second = connections.post("/", b"b", {})
    assert (first.data, second.data) == (b"a", b"b")
    assert len(set(server.ports)) == 2


def test_nothing_listening_raises_a_transport_error() -> None:
    connections = Connections(f"http://127.0.0.1:{free_port()}", connect_timeout=0.5, read_timeout=1, max_idle=1)
    with pytest.raises(TRANSPORT_ERRORS):
        connections.post("/", b"", {})
