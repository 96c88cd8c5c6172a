"""The direction of imports, as docs/ARCHITECTURE.md draws it:

    functions -> edge (http, admin, caches, assets) -> services -> {billing, providers, formats} -> auth
              -> foundation (canonical, dialects, catalog, storage, errors, config, ...)

A module imports from its own layer or below, never above; billing, providers and formats never
import one another (a format and a provider of the same vendor share only `dialects`); the canonical
vocabulary imports nothing of the gateway and the dialects only it. Every import counts: at the top,
inside a function, or under TYPE_CHECKING."""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from devtools.template import ROOT

GATEWAY = ROOT / "layers" / "common" / "gateway"
FUNCTIONS = ROOT / "functions"

LAYERS: dict[str, int] = {
    # the edge: what functions and tools are built from
    "http": 5,
    "routes": 5,
    "admin": 5,
    "operator_cli": 5,
    "caches": 5,
    "assets": 5,
    # use cases
    "services": 4,
    # money, upstreams, inbound formats: side by side, independent of each other
    "billing": 3,
    "providers": 3,
    "formats": 3,
    # who is calling
    "auth": 2,
    # the foundation: vocabulary, catalog, storage and runtime facts
    "canonical": 1,
    "dialects": 1,
    "catalog": 1,
    "storage": 1,
    "errors": 1,
    "config": 1,
    "clock": 1,
    "periods": 1,
    "money": 1,
    "ids": 1,
    "deadline": 1,
    "afterwards": 1,
    "loop_sessions": 1,
    "entry": 1,
    "observability": 1,
    "web": 1,
}
SIBLINGS_MAY_IMPORT_EACH_OTHER = {1, 5}
PURE: dict[str, set[str]] = {"canonical": set(), "dialects": {"canonical"}}


def package_of(module: str) -> str | None:
    """`gateway.providers.openai.client` -> `providers`; None for what is not the gateway's."""
    parts = module.split(".")
    return parts[1] if parts[0] == "gateway" and len(parts) > 1 else None


def imports(path: Path) -> Iterator[str]:
    """Every module `path` imports, as dotted names (`from gateway import clock` -> `gateway.clock`)."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "gateway":
                yield from (f"gateway.{alias.name}" for alias in node.names)
            else:
                yield node.module


def gateway_modules() -> list[Path]:
    return sorted(path for path in GATEWAY.rglob("*.py") if path.name != "__init__.py" or path.parent != GATEWAY)


def own_package(path: Path) -> str:
    relative = path.relative_to(GATEWAY)
    return relative.parts[0].removesuffix(".py")


def test_every_gateway_package_has_a_layer() -> None:
    packages = {own_package(path) for path in gateway_modules()}
    assert packages <= set(LAYERS), f"give these a layer: {sorted(packages - set(LAYERS))}"


def violations(mine: str, modules: Iterable[str]) -> list[str]:
    """What, of the `modules` a module of package `mine` imports, breaks the direction."""
    wrong = []
    for module in modules:
        if module.split(".")[0] in ("functions", "devtools", "tests", "bench"):
            wrong.append(f"{module} (outside the gateway)")
            continue
        theirs = package_of(module)
        if theirs is None or theirs == mine:
            continue
        if mine in PURE and theirs not in PURE[mine]:
            wrong.append(f"{module} (the {mine} vocabulary stands alone)")
        elif LAYERS[theirs] > LAYERS[mine]:
            wrong.append(f"{module} (a layer above {mine})")
        elif LAYERS[theirs] == LAYERS[mine] and LAYERS[mine] not in SIBLINGS_MAY_IMPORT_EACH_OTHER:
            wrong.append(f"{module} ({mine} and {theirs} are independent)")
    return wrong


@pytest.mark.parametrize("path", gateway_modules(), ids=lambda path: str(path.relative_to(GATEWAY)))
def test_a_gateway_module_imports_only_its_layer_and_below(path: Path) -> None:
    wrong = violations(own_package(path), imports(path))
    assert not wrong, f"{path.relative_to(ROOT)} imports " + "; ".join(wrong)


@pytest.mark.parametrize("path", sorted(FUNCTIONS.rglob("*.py")), ids=lambda path: str(path.relative_to(ROOT)))
def test_a_function_imports_the_gateway_and_never_another_function(path: Path) -> None:
    assert not [module for module in imports(path) if module.split(".")[0] in ("functions", "devtools", "tests")]


@pytest.mark.parametrize(
    ("mine", "module"),
    [
        ("providers", "gateway.formats.openai"),
        ("formats", "gateway.providers.gemini.response"),
        ("billing", "gateway.services.metering"),
        ("services", "gateway.http"),
        ("storage", "gateway.auth.authenticate"),
        ("canonical", "gateway.errors"),
        ("dialects", "gateway.providers.errors"),
        ("services", "functions.chat.app"),
    ],
)
def test_the_check_finds_an_import_against_the_direction(mine: str, module: str) -> None:
    assert violations(mine, [module])


@pytest.mark.parametrize(
    ("mine", "module"),
    [
        ("services", "gateway.billing.credits"),
        ("providers", "gateway.dialects.gemini"),
        ("formats", "gateway.canonical"),
        ("http", "gateway.formats.inbound"),
        ("storage", "gateway.config"),
        ("services", "httpx"),
    ],
)
def test_the_check_lets_an_import_along_the_direction_pass(mine: str, module: str) -> None:
    assert not violations(mine, [module])
