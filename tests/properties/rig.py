"""The rig the property suite drives: a gateway server that tells when it is idle, the DynamoDB
fault proxy in front of its store, and the fake upstreams."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from tests.support.dynamo_faults import FaultProxy


class InFlight:
    """ASGI wrapper counting requests the gateway is still working on (settlements included: a stream
    settles inside its body iterator, a buffered answer after it is sent, in the app's own middleware)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.count = 0
        self.idle = threading.Condition()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with self.idle:
            self.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            with self.idle:
                self.count -= 1
                self.idle.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        with self.idle:
            return self.idle.wait_for(lambda: self.count == 0, timeout)


class Rig:
    def __init__(
        self, url: str, proxy: FaultProxy, gateway: InFlight, http: httpx.Client, fakes: dict[str, Any]
    ) -> None:
        self.url, self.proxy, self.gateway, self.http, self.fakes = url, proxy, gateway, http, fakes

    def __repr__(self) -> str:  # as hypothesis prints a falsifying example
        return f"Rig({self.url})"
