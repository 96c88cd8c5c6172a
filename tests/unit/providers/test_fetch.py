"""A file an upstream answered with a URL (an image the worker keeps) is fetched as an upstream call:
whatever goes wrong is the upstream's failure, which hands over to the next candidate or fails the
task and refunds it, rather than an error that would have the queue redeliver the task."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devtools.dynamodb_local import free_port
from gateway.providers.errors import UpstreamFailure, may_fall_back
from gateway.providers.http import fetch
from tests.support.servers import ServerThread


async def image(request: Request) -> Response:
    return Response(b"PNG", media_type="image/png")


async def gone(request: Request) -> Response:
    return Response(b"expired", status_code=404)


@pytest.fixture(scope="module")
def files() -> Iterator[str]:
    server = ServerThread(Starlette(routes=[Route("/image.png", image), Route("/gone.png", gone)])).start()
    yield server.url
    server.stop()


def test_a_file_is_its_bytes(files: str) -> None:
    assert anyio.run(fetch, f"{files}/image.png") == b"PNG"


@pytest.mark.parametrize("where", ["{files}/gone.png", "http://127.0.0.1:{port}/nothing-listens.png"])
def test_a_file_that_cannot_be_fetched_is_the_upstreams_failure(files: str, where: str) -> None:
    with pytest.raises(UpstreamFailure) as raised:
        anyio.run(fetch, where.format(files=files, port=free_port()))
    assert may_fall_back(raised.value)
