"""Helpers for the infrastructure tests: the CLI tools of the venv, a python3.12 (and 3.13) for `sam build`,
and the function resources of template.yaml."""

from __future__ import annotations

import ast
import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from devtools.devserver import FUNCTIONS
from devtools.template import ROOT, TEMPLATE, resources

API_FUNCTIONS = FUNCTIONS  # every function behind API Gateway: chat, keys, images, audio, usage
# Served by uvicorn behind the Lambda Web Adapter (run.sh) and streamed by API Gateway; the rest buffered.
STREAMING_FUNCTIONS = ("chat", "images", "audio")
BUFFERED_FUNCTIONS = tuple(name for name in API_FUNCTIONS if name not in STREAMING_FUNCTIONS)


def logical_id(name: str) -> str:
    """functions/<name>/ is deployed as the template resource <Name>Function."""
    return f"{name.capitalize()}Function"


def functions() -> dict[str, dict[str, Any]]:
    """The AWS::Serverless::Function resources of template.yaml, by logical id."""
    return resources("AWS::Serverless::Function", TEMPLATE)


def properties(function: str) -> dict[str, Any]:
    return dict(functions()[function].get("Properties") or {})


def app_routes(app: Any) -> set[tuple[str, str]]:
    """(METHOD, path) of every HTTP route of a FastAPI app, routers included.

    Recent FastAPI keeps an included router as one lazy entry of app.routes and flattens it through
    fastapi.routing.iter_route_contexts; older versions copy the routes into app.routes."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:
        flat: list[Any] = list(app.routes)
    else:
        flat = list(iter_route_contexts(app.routes))
    routes = set()
    for route in flat:
        path, methods = getattr(route, "path", None), getattr(route, "methods", None)
        if path and methods:  # mounts and websockets have no methods; API Gateway proxies neither
            routes.update((method.upper(), path) for method in methods)
    return routes


def third_party_imports() -> dict[str, set[str]]:
    """Top-level modules the deployed code imports (the gateway package, every function, and what
    run.sh starts with `python -m`), by the files importing them; stdlib and the project's own
    modules aside, and imports under `if TYPE_CHECKING:` (they never run)."""
    sources = [*(ROOT / "layers" / "common" / "gateway").rglob("*.py"), *(ROOT / "functions").rglob("*.py")]
    own = {"gateway"} | {path.stem for path in (ROOT / "functions").rglob("*.py")}
    found: dict[str, set[str]] = {}
    for path in sources:
        for module in _runtime_imports(ast.parse(path.read_text(encoding="utf-8"))):
            found.setdefault(module, set()).add(str(path.relative_to(ROOT)))
    for script in (ROOT / "functions").glob("*/run.sh"):
        for module in re.findall(r"python3? -m ([A-Za-z_][\w.]*)", script.read_text(encoding="utf-8")):
            found.setdefault(module.split(".")[0], set()).add(str(script.relative_to(ROOT)))
    return {name: files for name, files in found.items() if name not in sys.stdlib_module_names | own}


def _runtime_imports(node: ast.AST) -> set[str]:
    if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
        return set().union(*(_runtime_imports(child) for child in node.orelse))
    if isinstance(node, ast.Import):
        return {alias.name.split(".")[0] for alias in node.names}
    if isinstance(node, ast.ImportFrom):
        return {node.module.split(".")[0]} if node.module and node.level == 0 else set()
    return set().union(*(_runtime_imports(child) for child in ast.iter_child_nodes(node)))


def venv_tool(name: str) -> str:
    """A console script installed next to the running interpreter (the project's venv)."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    assert found, f"`{name}` is not installed next to {sys.executable} nor on PATH; run `make install`."
    return found


def tool_env(**extra: str) -> dict[str, str]:
    """The environment for SAM CLI and cfn-lint: no telemetry (no network here)."""
    env = dict(os.environ)
    env["SAM_CLI_TELEMETRY"] = "0"
    env.update(extra)
    return env


def run(
    command: list[str], *, cwd: Path = ROOT, env: dict[str, str] | None = None, timeout: float = 280
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        env=env or tool_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _is_python(executable: str, version: str) -> bool:
    major, minor = version.split(".")
    try:
        answer = subprocess.run(
            [executable, "-c", f"import sys; print(sys.version_info[:2] == ({major}, {minor}))"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return answer.returncode == 0 and answer.stdout.strip() == "True"


def _version_key(directory: str) -> tuple[int, ...]:
    version = Path(directory).parent.name  # .../versions/3.12.1/bin
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))


def _pyenv_roots() -> list[Path]:
    roots: list[Path] = []
    pyenv = shutil.which("pyenv")
    if pyenv:
        try:
            answer = subprocess.run([pyenv, "root"], capture_output=True, text=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            answer = None
        if answer is not None and answer.returncode == 0 and answer.stdout.strip():
            roots.append(Path(answer.stdout.strip()))
    roots.append(Path.home() / ".pyenv")
    return roots


def python_bin_dir(version: str) -> Path | None:
    """A directory holding a python<version> that runs: PATH first (pyenv shims may not), then pyenv."""
    on_path = shutil.which(f"python{version}")
    if on_path and _is_python(on_path, version):
        return Path(on_path).parent
    for root in _pyenv_roots():
        for directory in sorted(
            glob.glob(str(root / "versions" / f"{version}*" / "bin")), key=_version_key, reverse=True
        ):
            if _is_python(str(Path(directory) / f"python{version}"), version):
                return Path(directory)
    return None


def python312_bin_dir() -> Path | None:
    return python_bin_dir("3.12")


def function_environment(function: str, parameters: dict[str, str]) -> dict[str, str]:
    from devtools.template import function_environment as resolved

    return resolved(function, parameters)
