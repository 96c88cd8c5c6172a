"""The project's own docs stay true to the tree: every link in the README and docs/ points at a file in
the repository, and every file docs/ARCHITECTURE.md names (its recipes for a new provider or endpoint
included) exists."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from devtools.template import ROOT
from gateway.errors import GatewayError, UpstreamRejected

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)#\s]+)(?:#[^)]*)?\)")
NAMED_FILE = re.compile(r"`([\w./<>-]+\.(?:py|md|yaml|json|sh))`")


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_every_link_is_a_file_in_the_repository(doc: Path) -> None:
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if target.startswith(("http://", "https://", "mailto:")):
            continue
        resolved = (doc.parent / target).resolve()
        assert resolved.is_relative_to(ROOT), f"{doc.name} links outside the repository: {target}"
        assert resolved.exists(), f"{doc.name} links to a missing file: {target}"


def repository_files() -> list[str]:
    """Every file of the tree as `/relative/path`, tools' directories left out."""
    skipped = {".venv", ".local", ".aws-sam", ".git", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"}
    found = []
    for folder, folders, files in os.walk(ROOT):
        folders[:] = [name for name in folders if name not in skipped]
        found += ["/" + (Path(folder) / name).relative_to(ROOT).as_posix() for name in files]
    return found


def test_every_file_the_architecture_names_exists() -> None:
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    files = repository_files()
    missing = []
    for name in sorted(set(NAMED_FILE.findall(text))):
        if "<" in name.replace("<kind>", ""):
            continue  # a file a recipe adds (formats/<name>.py, services/<endpoint>.py)
        kinds = [name.replace("<kind>", kind) for kind in ("openai", "anthropic", "gemini", "bedrock")]
        if not all(any(path.endswith("/" + each) for path in files) for each in kinds):
            missing.append(name)
    assert missing == []


def documented_errors() -> dict[int, set[str]]:
    """The codes of each status in docs/API.md's error table."""
    table: dict[int, set[str]] = {}
    for line in (ROOT / "docs" / "API.md").read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) > 3 and cells[1].isdigit():
            table.setdefault(int(cells[1]), set()).update(re.findall(r"`([a-z_]+)`", cells[2]))
    return table


def every_error_class() -> list[type[GatewayError]]:
    found, pending = [], [GatewayError]
    while pending:
        error = pending.pop()
        found.append(error)
        pending += error.__subclasses__()
    return [error for error in found if error is not UpstreamRejected]  # the provider's own status and code


def test_every_error_the_gateway_raises_is_in_the_contracts_table() -> None:
    table = documented_errors()
    undocumented = [
        f"{error.status} {error.code}"
        for error in every_error_class()
        if error.code not in table.get(error.status, set())
    ]
    assert undocumented == []
    documented = set().union(*table.values())
    sources = (ROOT / "layers" / "common" / "gateway").rglob("*.py")
    given = {code for path in sources for code in re.findall(r'code="([a-z_]+)"', path.read_text(encoding="utf-8"))}
    assert given - documented == set()  # codes given at raise sites (provider_rate_limited, interrupted, ...)
