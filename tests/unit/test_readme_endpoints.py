"""The README lists every endpoint the gateway serves, each with the call that reaches it, and no
endpoint it does not serve. The console's routes (its page, and the API that page calls with a
Cognito session) are the console section's."""

from __future__ import annotations

import re

from devtools.devserver import function_module
from devtools.template import ROOT, normalise_path
from gateway.http import INTERNAL_PATHS
from tests.infrastructure.tooling import API_FUNCTIONS, app_routes

ROUTE = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`?\s]+)")


def served() -> set[tuple[str, str]]:
    return {
        (method, _normal(path))
        for name in API_FUNCTIONS
        for method, path in app_routes(function_module(name).app)
        if path not in INTERNAL_PATHS and method not in ("HEAD", "OPTIONS") and not path.startswith("/console")
    }


def listed() -> dict[tuple[str, str], str]:
    """(METHOD, path) of each endpoint in the README's table, with its row's call."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("<!-- endpoints -->", 1)[1].split("<!-- /endpoints -->", 1)[0]
    rows: dict[tuple[str, str], str] = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 2 and ROUTE.search(cells[0]):
            for method, path in ROUTE.findall(cells[0]):
                rows[(method, _normal(path))] = cells[1]
    return rows


def _normal(path: str) -> str:
    """`/v1beta/models/{model}:countTokens` and the app's `{model:path}:countTokens` alike."""
    path = re.sub(r"\{[^}]+\}(:\w+)$", r"{}\1", path)
    return normalise_path(path.replace(":path}", "}"))


def test_every_served_endpoint_is_listed_with_its_call() -> None:
    rows = listed()
    gemini = {(m, p) for m, p in served() if p.startswith("/v1beta/models/") or (m, p[:11]) == ("POST", "/v1/models/")}
    missing = served() - set(rows) - gemini
    assert missing == set()
    assert all(call and call != "`" for call in rows.values())
    # Gemini's methods are listed by name: its routes take `model:method` as one path segment
    for method in ("generateContent", "streamGenerateContent", "countTokens"):
        assert any(method in path for _, path in rows), method


def test_no_listed_endpoint_is_unserved() -> None:
    servable = served()
    extra = [route for route in listed() if route not in servable and not route[1].startswith("/v1beta/models/")]
    assert extra == []
