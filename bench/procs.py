"""Child processes of the bench: started in their own process group, stopped by that id, and read
from /proc (peak RSS, CPU time)."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import time
from pathlib import Path

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class Self:
    """The bench's own process (the load generator runs in it): its CPU time and memory."""

    def cpu_seconds(self) -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    def rss_mb(self) -> float:
        return _status_kb(os.getpid(), "VmRSS") / 1024

    def peak_rss_mb(self) -> float:
        return _status_kb(os.getpid(), "VmHWM") / 1024


class Child:
    @classmethod
    def adopt(cls, name: str, process: subprocess.Popen[bytes] | None) -> Child:
        """A view of a process started elsewhere (DynamoDB Local, by devtools), for its CPU and memory."""
        child = cls.__new__(cls)
        child.name = name
        child.process = process  # type: ignore[assignment]
        return child

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: Path, cwd: Path) -> None:
        self.name = name
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            command, env=env, cwd=cwd, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_for_port(self, port: int, timeout: float) -> float:
        """Seconds until the child listened on 127.0.0.1:port."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.process.returncode}); see {self.log}:\n{self.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return time.monotonic() - started
            except OSError:
                time.sleep(0.1)
        raise TimeoutError(f"{self.name} did not listen on {port} within {timeout}s; see {self.log}:\n{self.tail()}")

    def tail(self, size: int = 3000) -> str:
        try:
            return self.log.read_bytes()[-size:].decode(errors="replace")
        except OSError:
            return ""

    def peak_rss_mb(self) -> float:
        """Peak resident set (VmHWM) of the child and, added, of its own children (e.g. workers)."""
        return sum(_status_kb(pid, "VmHWM") for pid in self.tree()) / 1024

    def rss_mb(self) -> float:
        return sum(_status_kb(pid, "VmRSS") for pid in self.tree()) / 1024

    def cpu_seconds(self) -> float:
        total = 0.0
        for pid in self.tree():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime
        return total

    def tree(self) -> list[int]:
        """The child and every process of its process group."""
        pids = [self.pid]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit() and int(entry.name) != self.pid:
                try:
                    if os.getpgid(int(entry.name)) == self.pid:
                        pids.append(int(entry.name))
                except OSError:
                    continue
        return pids

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)  # the group this child leads, and nothing else
                self.process.wait(timeout=10)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        self._log.close()


def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
