"""Nothing heavy happens when Lambda imports a handler: no AWS SDK is loaded, no environment is
required, FastAPI's own models (its OpenAPI document's) are not built. Cold starts stay short and
tests can set the environment per test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.template import ROOT
from tests.infrastructure.tooling import API_FUNCTIONS

PROBE = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
heavy = sorted(name for name in ("boto3", "botocore") if name in sys.modules)
openapi = sys.modules.get("fastapi.openapi.models")
built = openapi is not None and openapi.OpenAPI.__pydantic_complete__
handler = hasattr(module, "handler") or hasattr(module, "app")
print(json.dumps({"heavy": heavy, "handler": handler, "openapi_built": built}))
"""

TRACE = """
import builtins, importlib.util, sys, traceback
real = builtins.__import__
def spy(name, *args, **kwargs):
    if name.split(".")[0] in ("boto3", "botocore") and "boto3" not in sys.modules and "botocore" not in sys.modules:
        print("".join(traceback.format_stack(limit=12)), file=sys.stderr)
    return real(name, *args, **kwargs)
builtins.__import__ = spy
spec = importlib.util.spec_from_file_location("app", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
"""


def _clean_env() -> dict[str, str]:
    """The environment without any gateway or AWS setting: import must not need them."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "GATEWAY_", "POWERTOOLS_", "PROVIDER_"))
    }
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "layers" / "common")])
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@pytest.mark.parametrize("name", [*API_FUNCTIONS, "sweeper"])
def test_importing_a_function_does_not_load_the_aws_sdk(name: str) -> None:
    """Given a fresh interpreter with no gateway or AWS environment variables
    When functions/<name>/app.py is imported (what Lambda does on a cold start)
    Then the import succeeds and neither boto3 nor botocore has been imported yet."""
    app = ROOT / "functions" / name / "app.py"

    answer = _python(PROBE, app)

    assert answer.returncode == 0, f"importing {app} failed:\n{answer.stderr[-4000:]}"
    result = answer.stdout.strip().splitlines()[-1]
    if '"heavy": []' not in result:
        trace = _python(TRACE, app)
        pytest.fail(f"{name}: importing app.py loads {result}; first import of the SDK from:\n{trace.stderr[-4000:]}")
    assert '"handler": true' in result
    assert '"openapi_built": false' in result, f"{name}: FastAPI was imported before gateway.web deferred its models"


def test_fastapi_builds_its_models_on_first_use_and_the_gateway_its_own_at_once() -> None:
    """Given a fresh interpreter that imports FastAPI through gateway.web
    Then FastAPI's OpenAPI models are not built yet, pydantic's defaults are as they were (the
    gateway's models are built as they are defined), and an app's OpenAPI document is still made."""
    script = """
import json
from pydantic import BaseModel
from gateway.web import FastAPI
from fastapi import APIRouter
from fastapi.openapi.models import OpenAPI
from gateway.formats.keys import KeyCreate
before = OpenAPI.__pydantic_complete__
app = FastAPI()
router = APIRouter()
def create(spec: KeyCreate) -> None: ...
router.post("/keys")(create)
app.include_router(router)
document = app.openapi()
print(json.dumps({"before": before, "defaults": dict(BaseModel.model_config), "ours": KeyCreate.__pydantic_complete__,
                  "after": OpenAPI.__pydantic_complete__, "paths": sorted(document["paths"])}))
"""
    answer = _python(script, ROOT)

    assert answer.returncode == 0, answer.stderr[-4000:]
    result = json.loads(answer.stdout.strip().splitlines()[-1])
    assert result == {"before": False, "defaults": {}, "ours": True, "after": True, "paths": ["/keys"]}


def _python(script: str, app: Path) -> subprocess.CompletedProcess[str]:
    """Run `script` with the app's path as argument in a fresh interpreter, without AWS settings."""
    return subprocess.run(
        [sys.executable, "-c", script, str(app)],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
