"""The coding-agent CLIs (Claude Code, Codex CLI, Gemini CLI), as installed by `make agents` from
devtools/agents/package-lock.json into .local/agents, run against the gateway on loopback.

Each run gets a home of its own (no login, no settings or history of the machine), its CLI's
telemetry, update checks and error reporting off, and every HTTP(S) proxy variable pointing at a port
nothing listens on, with only loopback exempt: a CLI that tried to reach the internet would fail
rather than leak. The traces of the run are read back from the gateway with the key that ran it."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from devtools.dynamodb_local import free_port
from devtools.template import ROOT

AGENTS = ROOT / ".local" / "agents"
BIN = AGENTS / "node_modules" / ".bin"
TIMEOUT = 180


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def installed(cli: str) -> Path:
    """The CLI's entry point; `make agents` (part of `make install`) puts it there."""
    path = BIN / cli
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing: run `make agents`")
    return path


def offline_env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there: any non-loopback request fails
    keep = {name: os.environ[name] for name in ("PATH", "LANG", "TERM", "SYSTEMROOT") if name in os.environ}
    return {
        **keep,
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "TMPDIR": str(home / "tmp"),
        "HTTP_PROXY": nowhere,
        "HTTPS_PROXY": nowhere,
        "ALL_PROXY": nowhere,
        "http_proxy": nowhere,
        "https_proxy": nowhere,
        "all_proxy": nowhere,
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "NO_COLOR": "1",
        "CI": "1",
        **extra,
    }


def run(cli: str, args: list[str], env: dict[str, str], home: Path, *, stdin: str = "") -> Run:
    """Runs the CLI in `home` (a `new_home()`), removed afterwards."""
    workdir = home / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    (home / "tmp").mkdir(exist_ok=True)
    try:
        completed = subprocess.run(
            [str(installed(cli)), *args],
            cwd=workdir,
            env=offline_env(home, env),
            input=stdin,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return Run(completed.returncode, completed.stdout, completed.stderr)


def new_home() -> Path:
    """A home directory for one run, outside /tmp (Codex refuses to set up its helpers under /tmp)."""
    base = ROOT / ".local" / "agent-homes"
    base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=base))


def traces(gateway_url: str, key: str) -> list[dict[str, Any]]:
    """The key's request traces, oldest first, as the usage API shows them."""
    response = httpx.get(
        f"{gateway_url}/api/v1/request-traces",
        params={"page_size": 100},
        headers={"Authorization": f"Bearer {key}"},
        timeout=20,
    )
    response.raise_for_status()
    return list(reversed(response.json()["data"]["items"]))  # poeti's envelope: {code, data: {items, ...}}


def claude_code(gateway_url: str, key: str, model: str, prompt: str) -> Run:
    """`claude -p` as the README says to point it at the gateway."""
    home = new_home()
    env = {
        "ANTHROPIC_BASE_URL": gateway_url,
        "ANTHROPIC_AUTH_TOKEN": key,
        "ANTHROPIC_MODEL": model,
        "ANTHROPIC_SMALL_FAST_MODEL": model,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": model,
        "ANTHROPIC_DEFAULT_SONNET_MODEL": model,
        "ANTHROPIC_DEFAULT_OPUS_MODEL": model,
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_BUG_COMMAND": "1",
        "CLAUDE_CODE_MAX_RETRIES": "0",
    }
    return run("claude", ["-p", prompt], env, home)


def codex(gateway_url: str, key: str, model: str, prompt: str) -> Run:
    """`codex exec` with the gateway as a model provider speaking the Responses API."""
    home = new_home()
    config = home / ".codex"
    config.mkdir()
    (config / "config.toml").write_text(
        f'''model = "{model}"
model_provider = "gateway"
check_for_update_on_startup = false

[model_providers.gateway]
name = "AI Gateway"
base_url = "{gateway_url}/v1"
env_key = "GATEWAY_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0

[analytics]
enabled = false

[otel]
exporter = "none"
''',
        encoding="utf-8",
    )
    env = {"CODEX_HOME": str(config), "GATEWAY_API_KEY": key}
    return run("codex", ["exec", "--skip-git-repo-check", prompt], env, home)


def gemini_cli(gateway_url: str, key: str, model: str, prompt: str) -> Run:
    """`gemini -p` pointed at the gateway by GOOGLE_GEMINI_BASE_URL, with the key as a Gemini API key."""
    home = new_home()
    settings = home / ".gemini"
    settings.mkdir()
    (settings / "settings.json").write_text(
        '{"security": {"auth": {"selectedType": "gemini-api-key"}},'
        ' "privacy": {"usageStatisticsEnabled": false}, "telemetry": {"enabled": false},'
        ' "general": {"disableAutoUpdate": true, "disableUpdateNag": true}}',
        encoding="utf-8",
    )
    env = {
        "GOOGLE_GEMINI_BASE_URL": gateway_url,
        "GEMINI_API_KEY": key,
        "GEMINI_MODEL": model,
        "GEMINI_CLI_TRUST_WORKSPACE": "true",
        "GEMINI_TELEMETRY_ENABLED": "false",
    }
    return run("gemini", ["-p", prompt, "-m", model], env, home)
