"""LoopWire (storage/loop_wire.py), the DynamoDB client's keep-alive HTTP/1.1 pool on the event loop, against
servers scripted on real loopback sockets, under asyncio's own loop and uvloop: the request on the wire, the
answer read back, which connections are kept, reused or dropped, its timeouts, and its bound on open
connections through failures, timeouts and cancellations."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import socket
import ssl
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvloop
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from devtools.dynamodb_local import free_port
from gateway.storage.loop_wire import LoopWire

Run = Callable[[Coroutine[Any, Any, Any]], Any]
LOOPS: dict[str, Callable[[], asyncio.AbstractEventLoop]] = {
    "asyncio": asyncio.new_event_loop,
    "uvloop": uvloop.new_event_loop,
}


class Peer:
    """The server's side of one accepted connection: whole requests read from it, bytes sent on it;
    `ended` is set once the client closed it."""

    def __init__(self, sock: socket.socket, server: Server) -> None:
        self.sock = sock
        self.server = server
        self.ended = threading.Event()
        self._buffer = b""

    def request(self) -> bytes | None:
        """The next whole request (head and body), or None once the client closed the connection."""
        while True:
            head, found, rest = self._buffer.partition(b"\r\n\r\n")
            if found and len(rest) >= _content_length(head):
                break
            if not self._receive():
                self.ended.set()
                return None
        size = len(head) + 4 + _content_length(head)
        request, self._buffer = self._buffer[:size], self._buffer[size:]
        self.server.requests.append(request)
        return request

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _receive(self) -> bool:
        try:
            data = self.sock.recv(65536)
        except OSError:
            return False
        self._buffer += data
        return bool(data)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


Handler = Callable[[Peer], None]


class Server:
    """A loopback TCP server: each accepted connection is handed to `handle` in a thread of its own and
    closed when `handle` returns. Counts the connections it accepted and records every request."""

    def __init__(self, handle: Handler, tls: ssl.SSLContext | None, wires: list[LoopWire]) -> None:
        self.wires = wires
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self.listener.getsockname()[1]
        self.peers: list[Peer] = []
        self.requests: list[bytes] = []
        self._handle, self._tls = handle, tls
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def accepted(self) -> int:
        return len(self.peers)

    def wire(self, *, scheme: str = "http", name: str = "127.0.0.1", **settings: Any) -> LoopWire:
        options: dict[str, Any] = {"connect_timeout": 1.0, "read_timeout": 1.0, "max_connections": 4}
        options |= {"keep_alive": 60.0, **settings}
        self.wires.append(LoopWire(f"{scheme}://{name}:{self.port}", "dynamodb.test", **options))
        return self.wires[-1]

    def stop(self) -> None:
        for sock in [self.listener, *(peer.sock for peer in self.peers)]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked on it
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_side=True)
            peer = Peer(sock, self)
            self.peers.append(peer)
            self._handle(peer)
        except OSError:
            pass
        finally:
            sock.close()


def answer(body: bytes = b"{}", *headers: str, status: str = "HTTP/1.1 200 OK") -> bytes:
    head = "\r\n".join([status, f"Content-Length: {len(body)}", *headers])
    return f"{head}\r\n\r\n".encode() + body


def body_of(request: bytes) -> bytes:
    return request.partition(b"\r\n\r\n")[2]


def echo(peer: Peer) -> None:
    """Answers each request on a kept connection with its body."""
    while (request := peer.request()) is not None:
        peer.send(answer(body_of(request)))


def slow_echo(delay: float) -> Handler:
    def handle(peer: Peer) -> None:
        while (request := peer.request()) is not None:
            time.sleep(delay)
            peer.send(answer(body_of(request)))

    return handle


@pytest.fixture
def wires() -> list[LoopWire]:
    """The pools a test made, closed at the end of its run as loop_sessions closes them with their loop."""
    return []


@pytest.fixture
def serve(wires: list[LoopWire]) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(handle: Handler, tls: ssl.SSLContext | None = None) -> Server:
        servers.append(Server(handle, tls, wires))
        return servers[-1]

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(params=sorted(LOOPS))
def loop_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def run(loop_kind: str, wires: list[LoopWire]) -> Run:
    """Runs a coroutine to its end on a new loop of the kind under test, then closes the pools it used."""

    async def closing(main: Coroutine[Any, Any, Any]) -> Any:
        try:
            return await main
        finally:
            for wire in wires:
                await wire.close()
            wires.clear()

    def run(main: Coroutine[Any, Any, Any]) -> Any:
        with asyncio.Runner(loop_factory=LOOPS[loop_kind]) as runner:
            return runner.run(closing(main))

    return run


async def ended(peer: Peer, timeout: float = 1.0) -> bool:
    """Whether the client closed this connection (the loop goes on meanwhile, so its closes happen)."""
    return await asyncio.to_thread(peer.ended.wait, timeout)


# Keep-alive and the request on the wire


def test_sequential_posts_reuse_one_connection(serve: Callable[..., Server], run: Run) -> None:
    server = serve(echo)

    async def main() -> list[bytes]:
        wire = server.wire()
        return [(await wire.post(f"{n}".encode(), {})).data for n in range(20)]

    assert run(main()) == [f"{n}".encode() for n in range(20)]
    assert server.accepted == 1


def test_the_request_on_the_wire_is_a_post_with_the_host_length_headers_and_body(
    serve: Callable[..., Server], run: Run
) -> None:
    server = serve(echo)
    body = b'{"TableName":"t"}'
    headers = {"x-amz-target": "DynamoDB_20120810.GetItem", "content-type": "application/x-amz-json-1.0"}
    answered = run(server.wire().post(body, headers))
    assert (answered.status, answered.data) == (200, body)
    assert server.requests == [
        b"POST / HTTP/1.1\r\n"
        b"Host: dynamodb.test\r\n"
        b"Content-Length: 17\r\n"
        b"x-amz-target: DynamoDB_20120810.GetItem\r\n"
        b"content-type: application/x-amz-json-1.0\r\n"
        b"\r\n" + body
    ]


@pytest.mark.parametrize("value", ["a\r\nx-injected: 1", "a\nb", "a\rb"])
def test_a_header_value_with_a_line_break_is_refused_before_anything_is_sent(
    serve: Callable[..., Server], run: Run, value: str
) -> None:
    server = serve(echo)
    with pytest.raises(ValueError, match="line break"):
        run(server.wire().post(b"{}", {"authorization": value}))
    assert (server.accepted, server.requests) == (0, [])


@pytest.mark.parametrize(
    "last", [answer(b"bye", "Connection: close"), answer(b"bye", status="HTTP/1.0 200 OK")], ids=["close", "http/1.0"]
)
def test_an_answer_ending_the_connection_is_returned_and_its_connection_not_reused(
    serve: Callable[..., Server], run: Run, last: bytes
) -> None:
    def handle(peer: Peer) -> None:  # says the connection ends, yet would read on: the client must not
        while peer.request() is not None:
            peer.send(last)

    server = serve(handle)

    async def main() -> list[bytes]:
        wire = server.wire()
        bodies = [(await wire.post(b"{}", {})).data for _ in range(2)]
        assert await ended(server.peers[0])
        return bodies

    assert run(main()) == [b"bye", b"bye"]
    assert server.accepted == 2


def test_a_chunked_answer_in_pieces_is_read_whole_with_its_headers_lowercased(
    serve: Callable[..., Server], run: Run
) -> None:
    pieces = [
        b"HTTP/1.1 200 OK\r\nX-Amz-Crc32: 12",
        b"34\r\nContent-Type: application/x-amz-json-1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        b'5\r\n{"Cou\r\n',
        b'6\r\nnt":3}\r\n0',
        b"\r\n\r\n",
    ]

    def handle(peer: Peer) -> None:
        peer.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while peer.request() is not None:
            for piece in pieces:
                peer.send(piece)
                time.sleep(0.005)

    server = serve(handle)

    async def main() -> list[Any]:
        wire = server.wire()
        return [await wire.post(b"{}", {}) for _ in range(2)]

    answers = run(main())
    assert [(a.status, a.data) for a in answers] == [(200, b'{"Count":3}')] * 2
    assert answers[0].headers["x-amz-crc32"] == "1234"
    assert answers[0].headers["content-type"] == "application/x-amz-json-1.0"
    assert server.accepted == 1  # a whole chunked answer leaves the connection reusable


def test_tls_names_the_endpoints_host_and_keeps_the_connection(
    serve: Callable[..., Server], run: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = _self_signed("localhost", tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # ssl.create_default_context() trusts it
    names: list[str | None] = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    def sni(_sock: ssl.SSLObject, name: str | None, _context: ssl.SSLContext) -> None:
        names.append(name)

    context.sni_callback = sni
    server = serve(echo, tls=context)

    async def main() -> list[bytes]:
        wire = server.wire(scheme="https", name="localhost")
        return [(await wire.post(f"{n}".encode(), {})).data for n in range(3)]

    assert run(main()) == [b"0", b"1", b"2"]
    assert (server.accepted, names) == (1, ["localhost"])


def _self_signed(name: str, directory: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


# Idle connections the server closed, or kept too long


def _closing_after_the_first_answer() -> tuple[Handler, threading.Event, threading.Event]:
    """A server that answers on its first connection, then closes it when told (`close`), saying when
    it did (`closed`); it keeps any later connection."""
    close, closed = threading.Event(), threading.Event()
    first = threading.Lock()

    def handle(peer: Peer) -> None:
        if first.acquire(blocking=False):
            peer.request()
            peer.send(answer(b"first"))
            close.wait(5)
            peer.sock.close()
            closed.set()
            return
        echo(peer)

    return handle, close, closed


def test_a_kept_connection_the_server_closed_is_replaced(serve: Callable[..., Server], run: Run) -> None:
    handle, close, closed = _closing_after_the_first_answer()
    server = serve(handle)

    async def main() -> list[bytes]:
        wire = server.wire()
        first = await wire.post(b"{}", {})
        close.set()
        await asyncio.to_thread(closed.wait, 5)  # the loop runs meanwhile and reads the FIN
        second = await wire.post(b"second", {})
        return [first.data, second.data]

    assert run(main()) == [b"first", b"second"]
    assert server.accepted == 2


def test_a_kept_connection_closed_while_the_loop_was_busy_is_replaced_after_one_turn(
    serve: Callable[..., Server], run: Run, loop_kind: str, request: pytest.FixtureRequest
) -> None:
    """As loop_sessions.session_for expects: its FIN already read by the kernel, as after a Lambda
    freeze, the closed connection is not taken after the one turn of the loop session_for gives."""
    handle, close, closed = _closing_after_the_first_answer()
    server = serve(handle)

    async def main() -> list[bytes]:
        wire = server.wire()
        first = await wire.post(b"{}", {})
        await asyncio.sleep(0.01)  # the answer wholly handled, the connection idle in the pool
        close.set()
        assert closed.wait(5)  # blocks the loop: the FIN waits in the kernel, unread
        time.sleep(0.01)
        await asyncio.sleep(0)  # session_for's turn of the loop
        second = await wire.post(b"second", {})
        return [first.data, second.data]

    assert run(main()) == [b"first", b"second"]
    assert server.accepted == 2


def test_an_idle_connection_older_than_keep_alive_is_closed_not_reused(serve: Callable[..., Server], run: Run) -> None:
    server = serve(echo)

    async def main() -> bool:
        wire = server.wire(keep_alive=0.05)
        await wire.post(b"a", {})
        await wire.post(b"b", {})  # young enough: reused
        await asyncio.sleep(0.08)
        await wire.post(b"c", {})
        return await ended(server.peers[0])

    assert run(main())
    assert server.accepted == 2
    assert [body_of(r) for r in server.requests] == [b"a", b"b", b"c"]


def test_close_closes_the_idle_connections(serve: Callable[..., Server], run: Run) -> None:
    server = serve(echo)

    async def main() -> tuple[bool, bool, bool]:
        wire = server.wire()
        await asyncio.gather(*(wire.post(b"{}", {}) for _ in range(3)))
        before = wire.closed
        await wire.close()
        closes = await asyncio.gather(*(ended(peer) for peer in server.peers))
        return before, wire.closed, all(closes)

    assert run(main()) == (False, True, True)
    assert server.accepted == 3


# Timeouts, failures and what becomes of their connections


def test_a_server_that_never_answers_times_out_after_the_read_timeout(serve: Callable[..., Server], run: Run) -> None:
    def handle(peer: Peer) -> None:
        while peer.request() is not None:
            pass  # never answers

    server = serve(handle)

    async def main() -> float:
        wire = server.wire(read_timeout=0.1)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await wire.post(b"{}", {})
        elapsed = time.monotonic() - started
        assert await ended(server.peers[0])  # the late connection is dropped
        return elapsed

    assert 0.09 <= run(main()) < 0.2


def test_a_reused_connection_that_gets_no_answer_times_out_after_the_read_timeout(
    serve: Callable[..., Server], run: Run
) -> None:
    def handle(peer: Peer) -> None:
        peer.request()
        peer.send(answer())
        peer.request()
        peer.ended.wait(5)

    server = serve(handle)

    async def main() -> float:
        wire = server.wire(read_timeout=0.15)
        await wire.post(b"{}", {})
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await wire.post(b"{}", {})
        return time.monotonic() - started

    assert run(main()) < 0.225  # 0.3 (two read timeouts) with the bug


def test_an_answer_trickling_in_for_longer_than_the_read_timeout_is_not_cut_off(
    serve: Callable[..., Server], run: Run
) -> None:
    """The read timeout bounds silence, not the whole answer."""
    whole = answer(b"0123456789", "X-Amz-Crc32: 5")

    def handle(peer: Peer) -> None:
        peer.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        while peer.request() is not None:
            for start in range(0, len(whole), 10):
                peer.send(whole[start : start + 10])
                time.sleep(0.04)

    server = serve(handle)

    async def main() -> tuple[bytes, float]:
        wire = server.wire(read_timeout=0.1)
        started = time.monotonic()
        answered = await wire.post(b"{}", {})
        return answered.data, time.monotonic() - started

    data, elapsed = run(main())
    assert data == b"0123456789"
    assert elapsed > 0.2  # well past the read timeout in total


def test_a_timer_left_by_a_slow_answer_does_not_cut_the_next_answer_short(
    serve: Callable[..., Server], run: Run
) -> None:
    timeout = 0.5  # margins of a quarter of it (0.125 s): a loaded machine keeps to them
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n"

    def handle(peer: Peer) -> None:  # times from the first request, in read timeouts (T); no silence reaches T
        peer.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer.request()
        time.sleep(0.25 * timeout)
        peer.send(head)  # 0.25T: the first answer's timer, armed at 0, is put off to 1.25T
        time.sleep(0.75 * timeout)
        peer.send(b"a")  # 1T: the first answer is whole; the next request comes at once
        peer.request()
        time.sleep(0.5 * timeout)
        peer.send(head)  # 1.5T
        time.sleep(0.75 * timeout)
        peer.send(b"b")  # 2.25T, 0.75T after the last byte: in time, whatever the first answer's timer did
        echo(peer)

    server = serve(handle)

    async def main() -> list[bytes]:
        wire = server.wire(read_timeout=timeout)
        return [(await wire.post(b"{}", {})).data for _ in range(2)]

    assert run(main()) == [b"a", b"b"]
    assert server.accepted == 1


def test_nothing_listening_is_refused_promptly(run: Run) -> None:
    wire = LoopWire(
        f"http://127.0.0.1:{free_port()}", "h", connect_timeout=2.0, read_timeout=2.0, max_connections=1,
        keep_alive=60.0,
    )  # fmt: skip

    async def main() -> float:
        started = time.monotonic()
        for _ in range(2):  # and the failed connect gave its place in the pool back
            with pytest.raises(ConnectionRefusedError):
                await wire.post(b"{}", {})
        return time.monotonic() - started

    assert run(main()) < 0.5


def _bad_first_then_echo(first: bytes) -> Handler:
    """A server that answers the first request of its first connection with `first`, then waits for the
    client to close it; other connections echo."""
    once = threading.Lock()

    def handle(peer: Peer) -> None:
        if once.acquire(blocking=False):
            peer.request()
            peer.send(first)
            peer.request()
            return
        echo(peer)

    return handle


@pytest.mark.parametrize(
    "malformed",
    [
        b"NOT HTTP AT ALL\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ],
    ids=["not http", "bad length", "bad chunk"],
)
def test_a_malformed_answer_is_a_connection_error_and_its_connection_dropped(
    serve: Callable[..., Server], run: Run, malformed: bytes
) -> None:
    server = serve(_bad_first_then_echo(malformed))

    async def main() -> tuple[bool, bytes]:
        wire = server.wire(max_connections=1)
        with pytest.raises(ConnectionError, match="malformed"):
            await wire.post(b"{}", {})
        dropped = await ended(server.peers[0])
        return dropped, (await wire.post(b"next", {})).data

    assert run(main()) == (True, b"next")
    assert server.accepted == 2


def test_bytes_arriving_on_an_idle_connection_drop_it(serve: Callable[..., Server], run: Run) -> None:
    def handle(peer: Peer) -> None:
        peer.request()
        peer.send(answer(b"asked"))
        time.sleep(0.02)
        peer.send(answer(b"unasked"))  # out of step: the next request would read this
        peer.request()

    server = serve(handle)

    async def main() -> tuple[bytes, bool, bytes]:
        wire = server.wire()
        asked = await wire.post(b"{}", {})
        dropped = await ended(server.peers[0])
        return asked.data, dropped, (await wire.post(b"{}", {})).data

    assert run(main()) == (b"asked", True, b"asked")
    assert server.accepted == 2


def test_an_extra_answer_sent_with_the_answer_neither_alters_it_nor_keeps_the_connection(
    serve: Callable[..., Server], run: Run
) -> None:
    both = answer(b"asked", "X-Amz-Crc32: 1") + answer(b"unasked", "X-Amz-Crc32: 2")
    server = serve(_bad_first_then_echo(both))

    async def main() -> tuple[Any, bytes]:
        wire = server.wire()
        asked = await wire.post(b"{}", {})
        return asked, (await wire.post(b"next", {})).data

    asked, following = run(main())
    assert (asked.data, asked.headers["x-amz-crc32"]) == (b"asked", "1")
    assert following == b"next"
    assert server.accepted == 2


@pytest.mark.parametrize(
    "whole",
    [b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nhello", b"HTTP/1.0 200 OK\r\n\r\nhello"],
    ids=["close", "http/1.0"],
)
def test_an_answer_ended_by_the_end_of_the_connection_is_read(
    serve: Callable[..., Server], run: Run, whole: bytes
) -> None:
    def handle(peer: Peer) -> None:
        peer.request()
        peer.send(whole)

    server = serve(handle)
    assert run(server.wire().post(b"{}", {})).data == b"hello"


def test_a_connection_closed_before_the_next_answer_does_not_repeat_the_last_one(
    serve: Callable[..., Server], run: Run
) -> None:
    def handle(peer: Peer) -> None:
        peer.request()
        peer.send(b"HTTP/1.1 204 No Content\r\nX-Amz-Crc32: 0\r\n\r\n")  # kept alive, no length: no body
        peer.request()  # then hangs up without answering

    server = serve(handle)

    async def main() -> int:
        wire = server.wire()
        first = await wire.post(b"{}", {})
        with pytest.raises(ConnectionResetError):
            await wire.post(b"{}", {})
        return int(first.status)

    assert run(main()) == 204


# The bound on open connections


def test_a_post_beyond_the_bound_waits_for_a_connection_to_come_back(serve: Callable[..., Server], run: Run) -> None:
    server = serve(slow_echo(0.1))

    async def main() -> tuple[list[bytes], float]:
        wire = server.wire(max_connections=2)
        started = time.monotonic()
        answers = await asyncio.gather(*(wire.post(f"{n}".encode(), {}) for n in range(3)))
        return [a.data for a in answers], time.monotonic() - started

    data, elapsed = run(main())
    assert data == [b"0", b"1", b"2"]
    assert server.accepted == 2
    assert elapsed >= 0.19  # the third waited for one of the first two


def test_waiting_longer_than_the_connect_timeout_for_a_busy_pool_times_out(
    serve: Callable[..., Server], run: Run
) -> None:
    server = serve(slow_echo(0.25))

    async def main() -> tuple[bytes, float, bytes]:
        wire = server.wire(max_connections=1, connect_timeout=0.1)
        first = asyncio.create_task(wire.post(b"first", {}))
        await asyncio.sleep(0.01)  # the first took the only connection
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await wire.post(b"second", {})
        waited = time.monotonic() - started
        return (await first).data, waited, (await wire.post(b"then", {})).data

    first, waited, then = run(main())
    assert first == b"first"
    assert 0.1 - 0.002 <= waited < 0.2  # libuv's loop clock counts whole milliseconds: a timer may fire ~1 ms early
    assert then == b"then"
    assert server.accepted == 1


def test_cancelling_a_post_mid_answer_drops_its_connection(serve: Callable[..., Server], run: Run) -> None:
    halfway = threading.Event()

    def handle(peer: Peer) -> None:
        while (request := peer.request()) is not None:
            if body_of(request) == b"half":
                peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234")
                halfway.set()
            else:
                peer.send(answer(body_of(request)))

    server = serve(handle)

    async def main() -> tuple[bool, bytes]:
        wire = server.wire(max_connections=1)
        post = asyncio.create_task(wire.post(b"half", {}))
        await asyncio.to_thread(halfway.wait, 1)
        await asyncio.sleep(0.02)  # the first half read
        post.cancel()
        with pytest.raises(asyncio.CancelledError):
            await post
        dropped = await ended(server.peers[0])
        return dropped, (await wire.post(b"after", {})).data  # the one place in the pool was given back

    assert run(main()) == (True, b"after")
    assert server.accepted == 2


def test_no_failure_timeout_or_cancellation_leaks_a_place_in_the_pool(serve: Callable[..., Server], run: Run) -> None:
    def handle(peer: Peer) -> None:  # what it does is what the request's body says
        while (request := peer.request()) is not None:
            body = body_of(request)
            if body == b"garbage":
                peer.send(b"NOT HTTP\r\n\r\n")
            elif body == b"hang up":
                return
            elif body == b"half":
                peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234")
            elif body == b"slow":
                time.sleep(0.12)  # longer than the connect timeout, shorter than the read timeout
                peer.send(answer(body))
            elif body != b"silent":
                peer.send(answer(body))

    server = serve(handle)

    async def main() -> tuple[list[str], int]:
        wire = server.wire(max_connections=1, connect_timeout=0.05, read_timeout=0.2)

        async def attempt(body: bytes, headers: dict[str, str] | None = None) -> str:
            try:
                async with asyncio.timeout(0.05 if body == b"half" else None):
                    return (await wire.post(body, headers or {})).data.decode()
            except (OSError, ValueError) as error:
                return type(error).__name__

        async def cancelled(body: bytes, after: float) -> str:
            task = asyncio.create_task(wire.post(body, {}))
            await asyncio.sleep(after)
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                return "cancelled"
            return "not cancelled"

        outcomes = [
            await attempt(b"garbage"),
            await attempt(b"ok"),
            await attempt(b"silent"),
            await attempt(b"ok"),
            await attempt(b"hang up"),
            await cancelled(b"connecting", 0),  # no idle connection: cancelled while connecting
            await attempt(b"ok"),
            await attempt(b"half"),  # cancelled mid-answer by the caller's own timeout
            await attempt(b"ok"),
            await attempt(b"ok", {"x": "a\nb"}),
            await attempt(b"ok"),
        ]
        slow = asyncio.create_task(attempt(b"slow"))
        await asyncio.sleep(0.01)
        outcomes.append(await attempt(b"waits"))  # the only connection busy past the connect timeout
        outcomes.append(await cancelled(b"waiting", 0.01))  # cancelled while waiting for it
        outcomes.append(await slow)
        before = server.accepted
        outcomes += await asyncio.gather(*(attempt(f"ok{n}".encode()) for n in range(3)))
        return outcomes, server.accepted - before

    outcomes, opened = run(main())
    assert outcomes == [
        *("ConnectionError", "ok", "TimeoutError", "ok", "ConnectionResetError", "cancelled", "ok"),
        *("TimeoutError", "ok", "ValueError", "ok", "TimeoutError", "cancelled", "slow", "ok0", "ok1", "ok2"),
    ]
    assert opened <= 1  # still one connection at a time


def test_a_waiter_cancelled_as_it_is_woken_passes_the_connection_on(serve: Callable[..., Server], run: Run) -> None:
    server = serve(slow_echo(0.05))

    async def main() -> bytes:
        wire = server.wire(max_connections=1, connect_timeout=0.3)
        first, second = (asyncio.create_task(wire.post(body, {})) for body in (b"w1", b"w2"))
        await wire.post(b"holder", {})  # took the only connection before the two tasks asked; woke the first
        first.cancel()  # before it ran
        return (await second).data

    assert run(main()) == b"w2"
