"""A catalog change too big for one transaction (an import of hundreds of items) is written in
batches, then its version: a process that loads the catalog meanwhile (a cold start) gets either the
catalog before it or one that loads, never a request answered 500."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from gateway.catalog import live
from gateway.config import get_settings
from gateway.services import catalog_admin
from gateway.storage.stores import stores
from tests.support.control import chat, unique

MODELS = 150


@pytest.fixture
def big_import() -> Iterator[Callable[[], threading.Event]]:
    """Starts importing a new provider with MODELS models on it (models named after it); the event is
    set once the import is written. Afterwards they are removed."""
    provider = unique("bulk")
    ids = [f"{provider}/m{i:03d}" for i in range(MODELS)]
    document = {
        "providers": {provider: {"kind": "openai", "default_base_url": "http://127.0.0.1:9/v1"}},
        "models": [
            {"id": model_id, "display_name": model_id, "owned_by": "ops", "context_length": 8192,
             "max_output_tokens": 100, "pricing": {"input": "1", "output": "1"},
             "providers": [{"provider": provider, "model": "echo"}]}
            for model_id in ids
        ],
    }  # fmt: skip
    threads: list[threading.Thread] = []

    def start() -> threading.Event:
        catalog_admin.seed()
        done = threading.Event()

        def run() -> None:
            try:
                catalog_admin.import_document(document)
            finally:
                done.set()

        threads.append(threading.Thread(target=run))
        threads[-1].start()
        return done

    yield start
    for thread in threads:
        thread.join()

    def remove(draft: Any) -> None:
        for model_id in ids:
            draft.models.pop(model_id, None)
        draft.providers.pop(provider, None)

    catalog_admin.change(remove)


def test_a_catalog_read_while_an_import_is_written_loads(gateway_env, big_import):
    done = big_import()
    failures, loads = [], 0
    while not done.is_set():
        try:
            live.build(stores().control.load(), get_settings().catalog_path)  # what a cold start reads
        except Exception as error:  # what a cold request would answer with
            failures.append(f"{type(error).__name__}: {str(error)[:200]}")
        loads += 1
    assert not failures, f"{len(failures)} of {loads} loads failed, e.g. {failures[0]}"


def test_a_cold_request_while_an_import_is_written_is_answered(gateway_url, upstream, make_tenant, big_import):
    tenant = make_tenant("10")
    done = big_import()
    statuses = []
    while not done.is_set():
        live.reset()  # a new process knows no catalog yet
        statuses.append(chat(gateway_url, tenant.key, "test/echo").status_code)
    assert set(statuses) <= {200}, statuses
