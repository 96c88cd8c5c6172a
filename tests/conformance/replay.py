"""Replaying a seed platform's examples as written: its curl commands (through httpx) and its Python
snippets (executed), with only the base URL and the key changed. `Seed.check_transcribed` compares
the examples of a test module with the seed's own page, where that page is at hand."""

from __future__ import annotations

import contextlib
import functools
import io
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

import httpx

from devtools.template import ROOT

# The seed pages: ../shared/reference/seeds from the main checkout (or a worktree beside it)
SEED_DIRS = (ROOT.parent / "shared/reference/seeds", ROOT.parent.parent / "shared/reference/seeds")


@dataclass(frozen=True)
class Seed:
    page: str  # the seed's page in ../shared/reference/seeds
    base_url: str  # as its examples write it; replaced by the gateway's
    key_placeholders: tuple[str, ...]  # what its examples write where the key goes
    examples: dict[str, str] = field(default_factory=dict)  # name -> the example's text, as the page has it

    def curl(self, name: str, gateway: str, key: str, **placeholders: str) -> httpx.Response:
        """Run the example `name` (a curl command) against `gateway` with `key`."""
        return curl(self.adapt(self.examples[name], gateway, key, **placeholders))

    def run(self, name: str, gateway: str, key: str, env: dict[str, str] | None = None, **names: Any) -> Run:
        """Execute the example `name` (Python) with the gateway's base URL and `key`; `names` are what it
        takes as given (a `client`, say). `env` are the environment variables it reads."""
        source = self.adapt(self.examples[name], gateway, key)
        printed = io.StringIO()
        namespace: dict[str, Any] = {
            "__name__": f"seed_example_{name}",
            "print": functools.partial(print, file=printed),  # what the example prints, and nothing else
            **names,
        }
        with _environ(env or {}):
            exec(compile(source, f"<{self.page}: {name}>", "exec"), namespace)  # noqa: S102 - the seed's own example
        return Run(printed.getvalue(), namespace)

    def adapt(self, text: str, gateway: str, key: str, **placeholders: str) -> str:
        text = text.replace(self.base_url, gateway)
        for placeholder in self.key_placeholders:
            text = text.replace(placeholder, key)
        for placeholder, value in placeholders.items():
            text = text.replace(placeholder, value)
        return text

    def page_text(self) -> str | None:
        for folder in SEED_DIRS:
            if (folder / self.page).is_file():
                return (folder / self.page).read_text(encoding="utf-8")
        return None


@dataclass
class Run:
    printed: str
    namespace: dict[str, Any]


def squeeze(text: str) -> str:
    """Text with its whitespace runs made one space (pages indent examples as they please)."""
    return re.sub(r"\s+", " ", text).strip()


def curl(command: str) -> httpx.Response:
    """A curl command line (the options the seeds use: -X, -H, -d, -N) sent with httpx."""
    tokens = shlex.split(command.replace("\\\n", " "))
    if not tokens or tokens[0] != "curl":
        raise ValueError(f"not a curl command: {command[:40]!r}")
    method, url, data = None, None, None
    headers: dict[str, str] = {}
    rest = iter(tokens[1:])
    for token in rest:
        if token == "-X":
            method = next(rest)
        elif token == "-H":
            name, _, value = next(rest).partition(":")
            headers[name.strip()] = value.strip()
        elif token in ("-d", "--data"):
            data = next(rest)
        elif token == "-N":  # no buffering: the whole stream is read below anyway
            continue
        elif token.startswith("-"):
            raise ValueError(f"curl option {token} is not replayed")
        else:
            url = token
    if url is None:
        raise ValueError("the curl command has no URL")
    method = method or ("POST" if data is not None else "GET")
    return httpx.request(method, url, headers=headers, content=data.encode() if data else None, timeout=30)


@contextlib.contextmanager
def _environ(values: dict[str, str]) -> Any:
    import os

    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def sse_events(body: str) -> list[str]:
    """The `data:` payloads of an SSE body, in order."""
    return [line[len("data: ") :] for line in body.splitlines() if line.startswith("data: ")]


def check_transcribed(seed: Seed) -> None:
    """Every example of the module is on the seed's page, word for word (whitespace aside)."""
    import pytest

    page = seed.page_text()
    if page is None:
        pytest.skip(f"{seed.page} is not at hand (../shared/reference/seeds)")
    squeezed = squeeze(page)
    missing = [name for name, text in seed.examples.items() if squeeze(text) not in squeezed]
    assert not missing, f"not on {seed.page} as written: {missing}"
