"""A short py-spy profile of the gateway under load, summarised: where the GIL-holding (CPU) time
goes, by package and by step of the request. py-spy lives in the bench's own tools venv."""

from __future__ import annotations

import collections
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from devtools.template import ROOT

TOOLS_VENV = ROOT / ".local" / "bench" / "tools-venv"
PY_SPY = TOOLS_VENV / "bin" / "py-spy"
# Steps of a chat request, found by a frame in the sampled stack (first match wins).
STEPS = [
    ("settle: TransactWriteItems built and signed (in its greenlet)", "settle (gateway/billing/credits.py"),
    ("reserve: the hold's UpdateItem built and signed (in its greenlet)", "reserve (gateway/billing/credits.py"),
    ("DynamoDB calls sent and read on the loop (storage/loop_wire.py)", "_posted (gateway/storage/dynamo_client.py"),
    ("key lookup: GetItem (cached 30 s)", "_read (gateway/auth/authenticate.py"),
    ("upstream call (aiohttp, buffered)", "complete_native (gateway/providers/openai/client.py"),
    ("upstream stream (aiohttp)", "_stream (gateway/providers/openai/client.py"),
    ("stream relay (per event)", "relay (gateway/services/relay.py"),
    ("request body: JSON + pydantic validation", "solve_dependencies (fastapi/"),
    ("worker-thread hand-off (anyio.to_thread)", "run_sync_in_worker_thread (anyio/"),
]


@dataclass
class Profile:
    ok: bool
    samples: int = 0
    seconds: float = 0.0
    by_package: list[tuple[str, float]] = field(default_factory=list)
    by_step: list[tuple[str, float]] = field(default_factory=list)
    by_package_all: list[tuple[str, float]] = field(default_factory=list)
    reason: str | None = None


def ensure_py_spy(log: Path) -> str | None:
    """Installs py-spy into the tools venv if needed; returns why it could not, or None."""
    if PY_SPY.exists():
        return None
    try:
        with log.open("w") as out:
            subprocess.run([sys.executable, "-m", "venv", str(TOOLS_VENV)], check=True, stdout=out, stderr=out)
            subprocess.run(
                [str(TOOLS_VENV / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", "py-spy"],
                check=True,
                stdout=out,
                stderr=out,
                timeout=180,
            )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        return f"py-spy could not be installed ({type(error).__name__})"
    return None


def start_recording(pid: int, seconds: int, output: Path) -> subprocess.Popen[bytes]:
    """py-spy record --gil: only samples where the process holds the GIL, i.e. runs Python."""
    command = [str(PY_SPY), "record", "--pid", str(pid), "--duration", str(seconds), "--rate", "100", "--gil"]
    command += ["--nonblocking", "--format", "raw", "--output", str(output)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summarise(raw: Path, seconds: float) -> Profile:
    if not raw.exists():
        return Profile(False, reason="py-spy wrote no profile")
    packages: collections.Counter[str] = collections.Counter()
    steps: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        packages[_package(frames[-1])] += n
        for step, needle in STEPS:
            if any(needle in frame for frame in frames):
                steps[step] += n
                break
        else:
            steps["other: uvicorn/h11, FastAPI/Starlette routing, asyncio, response"] += n
    if not total:
        return Profile(False, reason="no samples")
    shares = [(name, 100 * n / total) for name, n in packages.most_common()]
    by_step = [(name, 100 * n / total) for name, n in steps.most_common()]
    return Profile(True, total, seconds, shares[:12], by_step, shares)


def _package(frame: str) -> str:
    """py-spy names a frame `function (module/path.py:line)`: the top module names the package."""
    match = re.search(r"\((.*?)(?::\d+)?\)$", frame)
    path = match.group(1) if match else ""
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    top = path.lstrip("<").split("/", 1)[0].removesuffix(".py").removesuffix(">")
    if top == "gateway":
        return "gateway (ours)"
    if top in ("app", "bench", "devtools", "functions"):
        return "functions (ours)"
    if top.split(" ")[0] == "frozen" or top in sys.stdlib_module_names:
        return f"stdlib {top.removeprefix('frozen ')}"
    return top or "native"
