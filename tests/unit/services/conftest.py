"""Service unit tests run on the test catalog (the file: no runtime catalog in a table), with its
providers configured in the environment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import TEST_CATALOG

CONFIGURED = {
    "FAKE_OPENAI_API_KEY": "sk-fake",
    "FAKE_OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
    "FAKE_ANTHROPIC_API_KEY": "sk-ant-fake",
    "FAKE_ANTHROPIC_BASE_URL": "http://127.0.0.1:9/v1",
    "FAKE_GEMINI_API_KEY": "fake",
}


@pytest.fixture
def fixture_catalog(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    from gateway import caches

    monkeypatch.setenv("GATEWAY_CATALOG", str(TEST_CATALOG))
    for name, value in CONFIGURED.items():
        monkeypatch.setenv(name, value)
    for name in ("NOWHERE_API_KEY", "NOWHERE_BASE_URL", "PROVIDER_SECRET_ARN", "RUNTIME_CATALOG"):
        monkeypatch.delenv(name, raising=False)
    caches.reset()
    yield
    monkeypatch.undo()
    caches.reset()
