"""Real HTTP servers on 127.0.0.1 for tests: uvicorn in a background thread, or a function's run.sh."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from devtools.dynamodb_local import free_port
from devtools.template import ROOT


class ServerThread:
    def __init__(self, app: Any, port: int | None = None) -> None:
        self.port = port or free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def start_function(name: str, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    """functions/<name>/run.sh started as the Lambda Web Adapter starts it (uvicorn on $PORT, the layer's
    code on PYTHONPATH), once it answers /health: (the process, its base URL)."""
    port = free_port()
    process_env = {
        **os.environ,
        **env,
        "PORT": str(port),
        "PYTHONPATH": str(ROOT / "layers" / "common"),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    }
    run_sh = ROOT / "functions" / name / "run.sh"
    process = subprocess.Popen([str(run_sh)], env=process_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(process.stderr.read().decode() if process.stderr else "run.sh exited")
        try:
            if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise TimeoutError(f"{run_sh} did not answer /health")


def stop_function(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=10)
