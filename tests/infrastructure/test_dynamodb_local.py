"""DynamoDB Local, as `make dev` and the tests run it: no telemetry, and nothing written outside its data."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.dynamodb_local import DynamoDBLocal, free_port
from devtools.template import ROOT

METADATA = "dynamodb-local-metadata.json"  # what its telemetry client writes into the working directory


@pytest.mark.parametrize("persisted", [False, True], ids=["in-memory", "data-dir"])
def test_dynamodb_local_runs_without_telemetry_inside_its_own_directory(tmp_path: Path, persisted: bool) -> None:
    """Given DynamoDB Local starts its telemetry client (and writes its metadata file, telemetryEnabled
    true, into the working directory) unless DDB_LOCAL_TELEMETRY=0, whatever `-disableTelemetry` says
    When the dev server or the tests start it
    Then telemetry is off, it runs in its data directory (a temporary one in memory), and leaves no
    metadata file there nor in the repository."""
    data = tmp_path / "data" if persisted else None
    database = DynamoDBLocal(free_port(), data).start()
    try:
        assert database.process is not None
        proc = Path(f"/proc/{database.process.pid}")
        telemetry = [v for v in proc.joinpath("environ").read_bytes().split(b"\0") if v.startswith(b"DDB_LOCAL_")]
        workdir = proc.joinpath("cwd").resolve()
        written = sorted(path.name for path in workdir.iterdir() if path.is_file())
    finally:
        database.stop()

    assert telemetry == [b"DDB_LOCAL_TELEMETRY=0"]
    assert workdir != ROOT.resolve()
    if data is not None:
        assert workdir == data.resolve()
    else:
        assert not workdir.exists(), "the in-memory database's scratch directory outlived it"
    assert METADATA not in written
    assert not (ROOT / METADATA).exists(), f"{METADATA} in the repository (left by an older run? delete it)"
