"""The console's browser tests share one headless chromium (Debian's, through selenium) and its
screenshots' folder: `make screenshots` keeps them in docs/console/, linked from the README."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from devtools.template import ROOT
from tests.support.browser import Browser


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    kept = os.environ.get("CONSOLE_SCREENSHOTS")
    folder = (ROOT / kept) if kept else tmp_path_factory.mktemp("console-screenshots")
    opened = Browser(folder)
    yield opened
    opened.quit()
