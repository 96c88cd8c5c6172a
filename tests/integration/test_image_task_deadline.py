"""The image-task worker's run is bounded by its claim: after a candidate that timed out, the next is
asked only when a whole upstream timeout fits before the claim ends. Unbounded, it asked the next
one however little of the run was left. In Lambda the claim is the function's timeout
(IMAGE_TASK_WORK_SECONDS = Timeout = 300, UPSTREAM_TIMEOUT_SECONDS = 240): the second candidate is
asked at ~240 s and the function killed at 300 s, with that provider's images made and billed to
the operator, nothing stored or settled, and the message retried (the provider asked again). Here
the same proportions, scaled down: a claim of 4 s, an upstream timeout of 3 s."""

from __future__ import annotations

import socket
import threading
import time

import httpx
import pytest

from tests.conftest import balance_of
from tests.integration.test_images import deliver, run_worker
from tests.support.control import eventually, operator, unique
from tests.support.fake_openai import PROVIDER_KEY

__all__ = ["operator"]

GRANT = 10_000_000


@pytest.fixture
def silent_upstream():  # type: ignore[no-untyped-def]
    """A server that takes connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    stop.set()
    thread.join(2)
    for connection in held:
        connection.close()
    listener.close()


def test_a_workers_run_ends_within_its_claim_so_a_task_is_asked_of_a_provider_once(
    gateway_url,
    upstream,
    fake_servers,
    aws_local,
    make_tenant,
    operator,
    silent_upstream,
    monkeypatch,
):
    from gateway import caches

    provider, model = unique("hung"), unique("ops/image")
    operator.put(f"/providers/{provider}", {"kind": "openai"})
    operator.post("/channels", {"id": unique("ch-hung"), "provider": provider, "base_url": silent_upstream,
                                "api_key": PROVIDER_KEY})  # fmt: skip
    operator.post("/models", {
        "id": model, "display_name": "Two image providers", "owned_by": "ops", "category": "image",
        "pricing": {"image": {"*": "0.05"}}, "media": {"sizes": ["1024x1024"], "max_images": 2},
        "providers": [{"provider": provider, "model": "image-fake"},
                      {"provider": "fake-images", "model": "image-fake"}],
    })  # fmt: skip
    tenant = make_tenant("10")
    eventually(  # the catalog change reaches the dev server (CATALOG_CHECK_SECONDS is 0.3)
        lambda: (
            httpx.get(f"{gateway_url}/v1/models/{model}", headers={"Authorization": f"Bearer {tenant.key}"}).status_code
            == 200
        )
    )
    created = httpx.post(
        f"{gateway_url}/v1/images/generations",
        json={"model": model, "prompt": "an otter", "async": True},
        headers={"Authorization": f"Bearer {tenant.key}"},
        timeout=20,
    )
    assert created.status_code == 202, created.text
    records = deliver(aws_local)
    fake_servers["images"].reset()

    # Given a worker whose run (claim) is 4 s, and an upstream timeout of 3 s a candidate
    monkeypatch.setenv("IMAGE_TASK_WORK_SECONDS", "4")
    caches.reset()
    try:
        # and a second provider that takes a while to make the image (OpenAI's high quality: a minute)
        images = fake_servers["images"]
        images.answering.clear()
        first: dict = {}  # type: ignore[type-arg]
        second: dict = {}  # type: ignore[type-arg]
        started = time.monotonic()
        worker = threading.Thread(target=lambda: first.update(run_worker(records)))
        worker.start()
        # When SQS hands the message to another worker once the first one's claim has ended (in Lambda:
        # the first was killed at its timeout, and the message came back after its visibility timeout)
        time.sleep(5.5)  # the claim (whole epoch seconds) has surely ended
        retry = threading.Thread(target=lambda: second.update(run_worker(records)))
        retry.start()
        time.sleep(0.5)
        images.answering.set()
        worker.join(30)
        retry.join(30)
    finally:  # later tests get the settings they expect (the settings are cached)
        monkeypatch.undo()
        caches.reset()
    took = time.monotonic() - started
    asked = len(fake_servers["images"].requests)
    operator.delete(f"/models/{model}")
    # Then the first run ended within its claim: the hung provider timed out, and with less than an
    # upstream timeout left the second was not asked (cut off at the claim's end, it could still bill
    # the operator for images nobody stores); the task failed and was refunded, and the redelivered
    # message found it ended
    assert (asked, balance_of(tenant.account_id)) == (0, GRANT), (first, second, round(took, 1))
