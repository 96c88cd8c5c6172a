"""Keep-alive HTTP connections to one endpoint, for the DynamoDB client, over the standard library's
http.client: Starlette has loaded it already, where urllib3 would add ~13 ms of imports to a cold
start. A connection serves one request at a time; idle ones wait for the next (at most `max_idle`),
and one the server has closed meanwhile is replaced before it is used, as urllib3's pool does."""

from __future__ import annotations

import http.client
import select
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from urllib.parse import urlsplit

# What a failed exchange raises: no answer, a broken one, a timeout, a TLS failure (all OSError but
# http.client's own)
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (http.client.HTTPException, OSError)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Message | Mapping[str, str]  # http.client's, or aiohttp's on the loop
    data: bytes


class Connections:
    def __init__(self, endpoint: str, *, connect_timeout: float, read_timeout: float, max_idle: int) -> None:
        url = urlsplit(endpoint)
        self._tls = ssl.create_default_context() if url.scheme == "https" else None
        self._host = url.hostname or ""
        self._port = url.port
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._max_idle = max_idle
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> Answer:
        """One request and its whole answer; the connection is kept for the next unless either side
        closes it. Raises one of TRANSPORT_ERRORS when no answer arrives."""
        connection = self._take()
        try:
            connection.request("POST", path, body=body, headers=headers)
            response = connection.getresponse()
            answer = Answer(response.status, response.headers, response.read())
        except BaseException:
            connection.close()
            raise
        if response.will_close:
            connection.close()
        else:
            self._keep(connection)
        return answer

    def _take(self) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                idle = self._idle.pop() if self._idle else None
            if idle is None:
                return self._connect()
            if not _closed_by_server(idle):
                return idle
            idle.close()

    def _connect(self) -> http.client.HTTPConnection:
        connection = (
            http.client.HTTPSConnection(self._host, self._port, timeout=self._connect_timeout, context=self._tls)
            if self._tls is not None
            else http.client.HTTPConnection(self._host, self._port, timeout=self._connect_timeout)
        )
        connection.connect()
        assert connection.sock is not None
        connection.sock.settimeout(self._read_timeout)
        return connection

    def _keep(self, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < self._max_idle:
                self._idle.append(connection)
                return
        connection.close()


def _closed_by_server(connection: http.client.HTTPConnection) -> bool:
    """An idle connection with something to read has been closed by the server (or is out of step)."""
    if connection.sock is None:
        return True
    poller = select.poll()
    poller.register(connection.sock, select.POLLIN)
    return bool(poller.poll(0))
