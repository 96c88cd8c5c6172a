"""The machine and the versions the run used."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from devtools.template import ROOT

PACKAGES = (
    "fastapi",
    "starlette",
    "uvicorn",
    "pydantic",
    "pydantic-core",
    "boto3",
    "botocore",
    "aiohttp",
    "mangum",
    "aws-lambda-powertools",
    "aws-xray-sdk",
    "uvloop",
    "httptools",
    "aws-sam-cli",
)


def describe() -> tuple[dict[str, str], dict[str, str]]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    machine = {
        "CPU": f"{cpu}, {os.cpu_count()} cores",
        "Memory": f"{memory_kb / 1024 / 1024:.1f} GiB",
        "OS": f"{platform.system()} {platform.release()} ({platform.machine()})",
        "Python (gateway, bench)": sys.version.split()[0],
        "Java (DynamoDB Local)": _first_line(["java", "-version"]),
        "DynamoDB Local": _dynamodb_local_version(),
    }
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return machine, versions


def _first_line(command: list[str]) -> str:
    try:
        answer = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except OSError:
        return "not found"
    return ((answer.stdout or answer.stderr).strip().splitlines() or ["?"])[0]


def _dynamodb_local_version() -> str:
    home = Path(os.environ.get("DYNAMODB_LOCAL_HOME", ROOT / ".local" / "dynamodb-local"))
    marks = sorted(p.name.removeprefix(".version-") for p in home.glob(".version-*"))
    return f"jar from npm amplify-dynamodb-simulator {marks[-1] if marks else '?'}, -inMemory, -Xmx512m"


def cpu_times() -> list[int]:
    """The aggregate `cpu` line of /proc/stat (user nice system idle iowait irq softirq steal ...)."""
    return [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]


def steal_share(before: list[int], after: list[int]) -> float:
    """Share of CPU time the hypervisor gave to others (steal) between two cpu_times() readings."""
    delta = [b - a for a, b in zip(before, after, strict=False)]
    total = sum(delta[:8])
    return 100 * delta[7] / total if total and len(delta) > 7 else 0.0


QUIET_LOAD = 0.7  # the 1-minute load average under which the bench starts
WAIT_SECONDS = 20 * 60  # at most this long; then it runs anyway, and says so


def load_average() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def wait_for_quiet(log: Callable[[str], None], limit: float = WAIT_SECONDS) -> tuple[float, str]:
    """Waits (up to `limit` seconds) for the 1-minute load average to drop below QUIET_LOAD: the
    machine is shared. Returns the seconds waited and the load average when the bench began."""
    started = time.monotonic()
    while os.getloadavg()[0] >= QUIET_LOAD and time.monotonic() - started < limit:
        log(f"load average {load_average()}: waiting for it to drop below {QUIET_LOAD} (at most {limit / 60:.0f} min)")
        time.sleep(30)
    return time.monotonic() - started, load_average()
