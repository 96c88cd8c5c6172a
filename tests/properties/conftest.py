"""The property suite's rig: its own in-process gateway whose DynamoDB calls go through a
fault-injecting proxy, and the session's fake upstreams (scripted per request)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import httpx
import pytest

from tests.properties.rig import InFlight, Rig
from tests.support.dynamo_faults import FaultProxy

UPSTREAM_TIMEOUT = "1"  # seconds: stalls and timeouts cost this much per example


@pytest.fixture(scope="package")
def rig(gateway_env: dict[str, str], dynamodb_endpoint: str, fake_upstream, fake_servers) -> Iterator[Rig]:  # type: ignore[no-untyped-def]
    """While the package runs, every DynamoDB call of this process goes through the proxy (disarmed
    unless a test arms it) and upstream reads time out after UPSTREAM_TIMEOUT."""
    from devtools.devserver import build_app
    from tests.conftest import _reset_caches
    from tests.support.servers import ServerThread

    proxy = FaultProxy(dynamodb_endpoint).start()
    saved = {name: os.environ.get(name) for name in ("AWS_ENDPOINT_URL_DYNAMODB", "UPSTREAM_TIMEOUT_SECONDS")}
    os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = proxy.url
    os.environ["UPSTREAM_TIMEOUT_SECONDS"] = UPSTREAM_TIMEOUT
    _reset_caches()
    gateway = InFlight(build_app())
    server = ServerThread(gateway).start()
    fakes = {"openai": fake_upstream, **fake_servers}
    with httpx.Client(base_url=server.url, timeout=30) as client:
        yield Rig(server.url, proxy, gateway, client, fakes)
    server.stop()
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    _reset_caches()
    proxy.stop()


@pytest.fixture(scope="package", autouse=True)
def readable_examples() -> Iterator[None]:
    """schemathesis (tests/hostile) swaps hypothesis' printer of falsifying examples for one that prints
    nothing, process-wide; the property suite needs its examples shown."""
    from hypothesis import core
    from hypothesis.vendor import pretty

    saved = core.RepresentationPrinter
    core.RepresentationPrinter = pretty.RepresentationPrinter  # type: ignore[misc]
    yield
    core.RepresentationPrinter = saved  # type: ignore[misc]
