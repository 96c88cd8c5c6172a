"""LiteLLM's proxy, installed by the bench only, into its own venv, and configured to do as little
as it can: one model, the master key, no database, no spend logs, no callbacks, no telemetry."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import Child
from devtools.template import ROOT

VENV = ROOT / ".local" / "bench" / "litellm-venv"
REQUIREMENT = "litellm[proxy]"
MASTER_KEY = "sk-bench-litellm-master"
CONFIG = """\
model_list:
  - model_name: gpt-4o-mini
    litellm_params:
      model: openai/gpt-4o-mini
      api_base: {api_base}
      api_key: {api_key}
litellm_settings:
  telemetry: false
  set_verbose: false
  success_callback: []
  failure_callback: []
  callbacks: []
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  disable_spend_logs: true
  disable_reset_budget: true
  disable_adding_master_key_hash_to_db: true
"""
# What the doc says LiteLLM was asked to do (kept next to the config that does it).
DESCRIPTION = [
    "one `model_list` entry: `gpt-4o-mini` -> `openai/gpt-4o-mini` with `api_base` = the fake upstream",
    "auth: only `LITELLM_MASTER_KEY` (compared in memory); no `DATABASE_URL`, so no virtual keys, "
    "no budgets, no spend tracking or spend logs in a database (`disable_spend_logs: true`)",
    "no success/failure callbacks, `telemetry: false`, `LITELLM_LOG=ERROR`, "
    "`LITELLM_LOCAL_MODEL_COST_MAP=True` (no fetch of the price map)",
    "its default server: `litellm --config ... --host 127.0.0.1` (uvicorn, 1 worker process)",
    "outbound HTTP(S) proxy variables point at a closed port on 127.0.0.1 (NO_PROXY=127.0.0.1), "
    "so nothing it might try to fetch can leave the machine",
]


@dataclass
class Install:
    ok: bool
    seconds: float
    version: str | None = None
    reason: str | None = None
    packages: dict[str, str] = field(default_factory=dict)


def ensure_installed(log: Path, timeout: float = 420.0) -> Install:
    """pip install litellm[proxy] into VENV (a no-op when it is already there), within `timeout`."""
    started = time.monotonic()
    python = VENV / "bin" / "python"
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with log.open("w") as out:
            if not python.exists():
                subprocess.run(
                    [sys.executable, "-m", "venv", str(VENV)], check=True, stdout=out, stderr=out, timeout=120
                )
            left = max(30.0, timeout - (time.monotonic() - started))
            subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", REQUIREMENT],
                check=True,
                stdout=out,
                stderr=out,
                timeout=left,
            )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
        tail = log.read_text(errors="replace").splitlines()[-5:] if log.exists() else []
        tail = [line for line in tail if not line.startswith("WARNING: Location")]
        reason = f"{type(error).__name__}: {error}" + (f" ({' / '.join(tail)})" if tail else "")
        return Install(False, time.monotonic() - started, reason=reason)
    packages = _versions(python, ["litellm", "fastapi", "uvicorn", "uvloop", "httpx", "aiohttp", "openai", "pydantic"])
    return Install(True, time.monotonic() - started, version=packages.get("litellm"), packages=packages)


def _versions(python: Path, names: list[str]) -> dict[str, str]:
    script = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: pass\n"
        "print(json.dumps(out))\n"
    )
    answer = subprocess.run([str(python), "-c", script, *names], capture_output=True, text=True, check=False)
    import json

    return dict(json.loads(answer.stdout)) if answer.returncode == 0 else {}


def start(port: int, upstream_url: str, logs: Path) -> tuple[Child, float]:
    """The proxy on 127.0.0.1:port; returns it and its start-up time in seconds."""
    config = logs / "litellm-config.yaml"
    config.write_text(CONFIG.format(api_base=f"{upstream_url}/v1", api_key="sk-bench-upstream"))
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "OPENAI_", "LITELLM_", "DATABASE_")) and "PROXY" not in name.upper()
    }
    env.update(
        {
            "LITELLM_MASTER_KEY": MASTER_KEY,
            "LITELLM_LOG": "ERROR",
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_TELEMETRY": "False",
            "DISABLE_ADMIN_UI": "True",
            "HTTP_PROXY": "http://127.0.0.1:9",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "http_proxy": "http://127.0.0.1:9",
            "https_proxy": "http://127.0.0.1:9",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "HF_HUB_OFFLINE": "1",
            "TOKENIZERS_PARALLELISM": "false",
        }
    )
    command = [str(VENV / "bin" / "litellm"), "--config", str(config), "--host", "127.0.0.1", "--port", str(port)]
    child = Child("litellm", command, env, logs / "litellm.log", ROOT)
    seconds = child.wait_for_port(port, timeout=180)
    return child, seconds
