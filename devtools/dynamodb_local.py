"""Runs AWS's DynamoDB Local (the jar shipped in the npm package amplify-dynamodb-simulator) on Java.

Telemetry off: `-disableTelemetry` alone still starts the telemetry client and writes
dynamodb-local-metadata.json (telemetryEnabled: true) into the working directory; DDB_LOCAL_TELEMETRY=0
stops both. The process runs in its data directory (a temporary one in memory) all the same.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from devtools.template import ROOT

DEFAULT_HOME = ROOT / ".local" / "dynamodb-local"


def jar_dir() -> Path:
    home = Path(os.environ.get("DYNAMODB_LOCAL_HOME", DEFAULT_HOME))
    emulator = home / "package" / "emulator"
    if not (emulator / "DynamoDBLocal.jar").exists():
        raise FileNotFoundError(f"DynamoDB Local is not installed under {home}; run `make dynamodb-local`.")
    return emulator


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class DynamoDBLocal:
    """A DynamoDB Local process on 127.0.0.1:port, in memory or persisted under data_dir."""

    def __init__(self, port: int, data_dir: Path | None = None) -> None:
        self.port = port
        self.data_dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> DynamoDBLocal:
        java = shutil.which("java")
        if java is None:
            raise FileNotFoundError("java is not on PATH (DynamoDB Local needs Java 17+)")
        emulator = jar_dir()
        command = [
            java,
            "-Xms64m",
            "-Xmx512m",
            f"-Djava.library.path={emulator / 'DynamoDBLocal_lib'}",
            "-jar",
            str(emulator / "DynamoDBLocal.jar"),
            "-port",
            str(self.port),
            "-disableTelemetry",
            "-sharedDb",  # one database whatever credentials and region a client uses
        ]
        if self.data_dir is None:
            command.append("-inMemory")
            self._scratch = tempfile.TemporaryDirectory(prefix="dynamodb-local-", ignore_cleanup_errors=True)
            workdir = Path(self._scratch.name)
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            command += ["-dbPath", str(self.data_dir.resolve())]
            workdir = self.data_dir
        self.process = subprocess.Popen(
            command,
            cwd=workdir,
            env={**os.environ, "DDB_LOCAL_TELEMETRY": "0"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                self.stop()
                raise RuntimeError(f"DynamoDB Local exited: {error[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"DynamoDB Local did not listen on {self.port} within {timeout}s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None
        if self._scratch is not None:
            self._scratch.cleanup()
            self._scratch = None
