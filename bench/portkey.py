"""Portkey's open-source gateway (npm @portkey-ai/gateway), installed by the bench only, into its own
folder under .local/bench, and run as its package runs it (Node, `build/start-server.js`), headless:
no log UI, no cache, no config store. Every request names the provider (openai) and its base URL (the
fake upstream) in Portkey's headers, and carries the upstream's key; it writes nothing per request."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import Child
from devtools.template import ROOT

HOME = ROOT / ".local" / "bench" / "portkey"
PACKAGE = "@portkey-ai/gateway"
VERSION = "1.15.2"  # pinned: the numbers are for this version
SERVER = HOME / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
DESCRIPTION = [
    f"`npm install {PACKAGE}@{VERSION}` into `.local/bench/portkey` (nothing else installed or configured)",
    "run as its package's bin runs it: `node build/start-server.js --port=<port> --headless`, `NODE_ENV=production`"
    " (no log UI), one Node process",
    "each request: `x-portkey-provider: openai`, `x-portkey-custom-host: http://127.0.0.1:<fake>/v1`, and the "
    "upstream's key as `Authorization: Bearer` (it checks no key of its own and writes nothing per request)",
    "outbound proxy variables point at a closed port on 127.0.0.1 (NO_PROXY=127.0.0.1)",
    "patched for streams (one line of its build): 1.15.2 on Node fails every streamed request with `TypeError:"
    " immutable` when it adds its x-portkey-* headers to the upstream's response (Portkey-AI/gateway#1389, #1550);"
    " as the proposed fix (#1551) does, a streamed response is re-wrapped in a new Response (same body, status,"
    " headers) before they are added",
]
# Portkey-AI/gateway#1551's approach, applied to the built server: a streamed response gets mutable headers.
UNPATCHED = "this.updateHeaders(i,n.cacheStatus,o),{response:i"
PATCHED = (
    "(this.context.isStreaming&&(i=new Response(i.body,{status:i.status,statusText:i.statusText,"
    "headers:new Headers(i.headers)})),this.updateHeaders(i,n.cacheStatus,o)),{response:i"
)


@dataclass
class Install:
    ok: bool
    seconds: float
    version: str | None = None
    node: str | None = None
    reason: str | None = None
    packages: dict[str, str] = field(default_factory=dict)


def ensure_installed(log: Path, timeout: float = 420.0) -> Install:
    """npm install the pinned gateway into HOME (a no-op when it is there)."""
    started = time.monotonic()
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        return Install(False, 0.0, reason="node and npm are needed (not on PATH)")
    HOME.mkdir(parents=True, exist_ok=True)
    manifest = HOME / "package.json"
    if not manifest.exists():
        manifest.write_text(json.dumps({"name": "bench-portkey", "private": True}) + "\n")
    try:
        if not SERVER.exists():
            with log.open("w") as out:
                subprocess.run(
                    [npm, "install", "--no-audit", "--no-fund", "--ignore-scripts", f"{PACKAGE}@{VERSION}"],
                    cwd=HOME, check=True, stdout=out, stderr=out, timeout=timeout,
                )  # fmt: skip
        _patch_streams()
        installed = json.loads((SERVER.parent.parent / "package.json").read_text())
        version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError, ValueError) as error:
        return Install(False, time.monotonic() - started, reason=f"{type(error).__name__}: {error}")
    hono = _version(HOME / "node_modules" / "hono" / "package.json")
    return Install(
        True,
        time.monotonic() - started,
        version=str(installed.get("version")),
        node=version,
        packages={PACKAGE: str(installed.get("version")), "hono": hono, "node": version},
    )


def _patch_streams() -> None:
    """See DESCRIPTION: idempotent; raises ValueError when the build is not the one the patch is for."""
    source = SERVER.read_text()
    if PATCHED in source:
        return
    if source.count(UNPATCHED) != 1:
        raise ValueError("Portkey's build changed: the stream patch does not apply")
    SERVER.write_text(source.replace(UNPATCHED, PATCHED))


def _version(manifest: Path) -> str:
    try:
        return str(json.loads(manifest.read_text()).get("version"))
    except (OSError, ValueError):
        return "?"


def start(port: int, logs: Path) -> tuple[Child, float]:
    env = {name: value for name, value in os.environ.items() if "PROXY" not in name.upper()}
    env.update(
        {
            "NODE_ENV": "production",
            "HTTP_PROXY": "http://127.0.0.1:9",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "NO_PROXY": "127.0.0.1,localhost",
        }
    )
    command = [shutil.which("node") or "node", str(SERVER), f"--port={port}", "--headless"]
    child = Child("portkey", command, env, logs / "portkey.log", HOME)
    return child, child.wait_for_port(port, timeout=60)


def headers(upstream_url: str, upstream_key: str) -> dict[str, str]:
    return {
        "authorization": f"Bearer {upstream_key}",
        "x-portkey-provider": "openai",
        "x-portkey-custom-host": f"{upstream_url}/v1",
    }
