"""Cold start of each function's entry in a fresh interpreter, and the size of what `sam build` makes.

Each run copies the gateway package to a fresh directory and compiles its bytecode as the layer's
Makefile does (unchecked hash-based pycs), copies the function's app.py without any, and runs with
PYTHONDONTWRITEBYTECODE=1 (Lambda's code directories are read-only); dependencies load from the
bytecode pip compiled at install, as the layer's load theirs.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from devtools.template import ROOT

FUNCTIONS = ("chat", "keys", "usage", "admin", "console", "images", "audio", "sweeper", "aggregator")
# Every function Lambda invokes with one event and a buffered answer (chat, images and audio run under
# uvicorn behind the Web Adapter: run.sh)
BUFFERED = ("keys", "usage", "admin", "console", "sweeper", "aggregator")
# The first request each function answers: a real route, authenticated with an inference key where it
# has one, with an operator key for the admin API. The console's is its page (its API takes a Cognito
# user's ID token, from a browser's sign-in). images and audio are answered on /health when they have
# no route of their own yet.
FIRST_REQUEST = {
    "chat": ("GET", "/v1/models"),
    "keys": ("GET", "/api/user/self"),
    "usage": ("GET", "/api/v1/usage"),
    "admin": ("GET", "/api/admin/models"),
    "console": ("GET", "/console"),
    "images": ("GET", "/health"),
    "audio": ("GET", "/health"),
    "sweeper": ("SCHEDULE", ""),
    "aggregator": ("STREAM", ""),  # a batch of one ledger entry of a scratch account
}
OPERATOR_ROUTES = ("admin",)  # the functions whose first request takes the operator key

PROBE = r"""
import sys, time
started = time.perf_counter()
import asyncio, importlib.util, json
name, path, method, route, key = sys.argv[1:6]
baseline = set(sys.modules)
t0 = time.perf_counter()
spec = importlib.util.spec_from_file_location("app", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
t1 = time.perf_counter()
imported = len(set(sys.modules) - baseline)
HEAVY = ("boto3", "botocore", "httpx", "aiohttp", "pydantic", "fastapi", "aws_xray_sdk")
heavy = sorted(m for m in HEAVY if m in sys.modules)
uvicorn_ms = None
if name in ("chat", "images", "audio"):  # run.sh starts `python -m uvicorn app:app`: uvicorn is imported too
    u0 = time.perf_counter(); import uvicorn; uvicorn_ms = (time.perf_counter() - u0) * 1000

class Context:
    function_name = f"{name}-bench"; function_version = "$LATEST"; memory_limit_in_mb = 1024
    invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{name}-bench"
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = f"/aws/lambda/{name}"; log_stream_name = "bench"
    def get_remaining_time_in_millis(self): return 30000

headers = {"authorization": f"Bearer {key}", "host": "bench.execute-api.us-east-1.amazonaws.com"}
status = None
if name == "sweeper":
    t2 = time.perf_counter(); answer = module.handler({"source": "aws.events"}, Context()); t3 = time.perf_counter()
    status = 200 if isinstance(answer, dict) else 500
elif name == "aggregator":
    import uuid
    trace = uuid.uuid4().hex
    image = {"pk": {"S": f"TRACE#{trace}"}, "sk": {"S": "TRACE"}, "account_id": {"S": "bench-cold"},
             "key_hash": {"S": "bench-cold"}, "model": {"S": "gpt-4o-mini"}, "day": {"S": "2026-01-01"},
             "credits": {"N": "1"}, "prompt_tokens": {"N": "1"}, "status": {"S": "success"}}
    record = {"eventID": trace, "eventName": "INSERT", "eventSource": "aws:dynamodb",
              "dynamodb": {"Keys": {"pk": image["pk"], "sk": image["sk"]}, "NewImage": image,
                           "SequenceNumber": "1", "StreamViewType": "NEW_IMAGE"}}
    t2 = time.perf_counter(); answer = module.handler({"Records": [record]}, Context()); t3 = time.perf_counter()
    status = 200 if answer.get("added") == 1 else 500
elif hasattr(module, "handler"):
    event = {
        "resource": route, "path": route, "httpMethod": method, "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()}, "queryStringParameters": None,
        "multiValueQueryStringParameters": None, "pathParameters": None, "stageVariables": None,
        "requestContext": {"resourcePath": route, "httpMethod": method, "path": "/prod" + route, "stage": "prod",
                           "requestId": "bench", "identity": {"sourceIp": "127.0.0.1"}, "accountId": "123456789012",
                           "apiId": "bench"},
        "body": None, "isBase64Encoded": False,
    }
    t2 = time.perf_counter(); answer = module.handler(event, Context()); t3 = time.perf_counter()
    status = answer.get("statusCode")
else:  # chat, images, audio: the ASGI app as uvicorn would call it
    loop = asyncio.new_event_loop()
    sent = []
    async def call():
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": route, "raw_path": route.encode(), "query_string": b"", "root_path": "",
                 "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
                 "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 8080)}
        async def receive(): return {"type": "http.request", "body": b"", "more_body": False}
        async def send(message): sent.append(message)
        await module.app(scope, receive, send)
    t2 = time.perf_counter(); loop.run_until_complete(call()); t3 = time.perf_counter()
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
gateway_file = sys.modules["gateway"].__file__
print(json.dumps({"import_ms": (t1 - t0) * 1000, "first_ms": (t3 - t2) * 1000, "status": status,
                  "uvicorn_ms": uvicorn_ms, "interpreter_to_ready_ms": (t3 - started) * 1000,
                  "modules": imported, "heavy_after_import": heavy, "gateway": gateway_file}))
"""


@dataclass
class ColdStart:
    name: str
    runs: int
    import_ms: float = float("nan")
    first_ms: float = float("nan")
    uvicorn_ms: float | None = None
    process_ms: float = float("nan")  # exec -> answered, interpreter start-up included
    modules: int = 0
    heavy_after_import: list[str] = field(default_factory=list)
    status: int | None = None
    error: str | None = None

    @property
    def total_ms(self) -> float:
        return self.import_ms + self.first_ms


def measure(env: dict[str, str], key: str, operator_key: str, runs: int = 5) -> list[ColdStart]:
    """`key`: an inference key; `operator_key`: an operator's (the admin API's)."""
    results = []
    for name in FUNCTIONS:
        results.append(_measure_one(name, env, operator_key if name in OPERATOR_ROUTES else key, runs))
    return results


def _stage(work: Path, name: str, env: dict[str, str]) -> dict[str, str]:
    """A fresh copy of the gateway package with its bytecode compiled as the layer's Makefile does
    (unchecked hash-based pycs, nothing from this checkout's __pycache__), and of the function's
    code without any; returns the environment to run the function with."""
    shutil.copytree(
        ROOT / "layers" / "common" / "gateway",
        work / "python" / "gateway",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "unchecked-hash", str(work / "python")],
        check=True,
        timeout=120,
    )
    shutil.copytree(ROOT / "functions" / name, work / "function", ignore=shutil.ignore_patterns("__pycache__"))
    return {**env, "PYTHONPATH": str(work / "python"), "PYTHONDONTWRITEBYTECODE": "1"}


def _measure_one(name: str, env: dict[str, str], key: str, runs: int) -> ColdStart:
    method, route = FIRST_REQUEST[name]
    samples: list[dict[str, object]] = []
    walls: list[float] = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
            work = Path(tmp)
            run_env = _stage(work, name, env)
            started = time.perf_counter()
            answer = subprocess.run(
                [sys.executable, "-c", PROBE, name, str(work / "function" / "app.py"), method, route, key],
                env=run_env,
                cwd=work / "function",
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            walls.append((time.perf_counter() - started) * 1000)
        lines = answer.stdout.strip().splitlines()
        if answer.returncode != 0 or not lines or not lines[-1].startswith("{"):
            return ColdStart(name, runs, error=(answer.stderr.strip().splitlines() or ["failed"])[-1][:300])
        sample = json.loads(lines[-1])
        if not str(sample["gateway"]).startswith(str(work)):
            return ColdStart(name, runs, error=f"gateway imported from {sample['gateway']}, not the fresh copy")
        samples.append(sample)
    med = lambda field: statistics.median(float(s[field]) for s in samples)  # noqa: E731
    return ColdStart(
        name,
        runs,
        import_ms=med("import_ms"),
        first_ms=med("first_ms"),
        uvicorn_ms=med("uvicorn_ms") if samples[0]["uvicorn_ms"] is not None else None,
        process_ms=statistics.median(walls),
        modules=int(med("modules")),
        heavy_after_import=list(samples[0]["heavy_after_import"]),  # type: ignore[arg-type]
        status=int(samples[0]["status"]) if samples[0]["status"] is not None else None,  # type: ignore[arg-type]
    )


@dataclass
class Package:
    name: str
    kb: int
    zipped_kb: int
    files: int


@dataclass
class BuildSizes:
    ok: bool
    seconds: float
    packages: list[Package] = field(default_factory=list)
    largest_in_layer: list[tuple[str, int]] = field(default_factory=list)
    error: str | None = None
    command: str = ""


def sam_build(log: Path, timeout: float = 420.0) -> BuildSizes:
    """`sam build` of template.yaml into a temporary directory (python3.12 from pyenv on PATH)."""
    env = dict(os.environ)
    env["SAM_CLI_TELEMETRY"] = "0"
    for version in ("3.13", "3.12"):  # the functions' runtimes (3.13: ManagedChatFunction)
        found = sorted(Path(_pyenv_root()).glob(f"versions/{version}*/bin")) if _pyenv_root() else []
        if found:
            env["PATH"] = f"{found[-1]}{os.pathsep}{env.get('PATH', '')}"
    sam = Path(sys.executable).parent / "sam"
    with tempfile.TemporaryDirectory(prefix="bench-sam-") as tmp:
        build, cache = Path(tmp) / "build", Path(tmp) / "cache"
        command = [str(sam), "build", "--build-dir", str(build), "--cache-dir", str(cache)]
        command += ["--template-file", str(ROOT / "template.yaml")]
        shown = "sam build --build-dir <tmp>/build --cache-dir <tmp>/cache --template-file template.yaml"
        started = time.monotonic()
        try:
            with log.open("w") as out:
                subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=out, timeout=timeout, check=True)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as error:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:] if log.exists() else []
            return BuildSizes(False, time.monotonic() - started, error=f"{error}; {' / '.join(tail)}", command=shown)
        seconds = time.monotonic() - started
        packages = [_package(path) for path in sorted(build.iterdir()) if path.is_dir()]
        layer = build / "CommonLayer" / "python"
        largest = sorted(((p.name, _du_kb(p)) for p in layer.iterdir() if p.is_dir()), key=lambda x: -x[1])[:10]
        return BuildSizes(True, seconds, packages, largest, command=shown)


def _pyenv_root() -> str | None:
    try:
        return subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def _du_kb(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) // 1024


def _package(path: Path) -> Package:
    files = [f for f in path.rglob("*") if f.is_file()]
    with tempfile.TemporaryFile() as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
            for f in files:
                archive.write(f, f.relative_to(path))
        zipped = handle.tell()
    return Package(path.name, sum(f.stat().st_size for f in files) // 1024, zipped // 1024, len(files))


BREAKDOWN = r"""
import importlib.util, json, sys, time
path, key = sys.argv[1:3]
spec = importlib.util.spec_from_file_location("app", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
steps = {}
def step(label, call):
    started = time.perf_counter(); call(); steps[label] = (time.perf_counter() - started) * 1000
from gateway.storage import dynamo
step("create the DynamoDB client", dynamo.client)
from gateway.observability import logger, tracer
step("Powertools Logger()", logger)
step("Powertools Tracer() (X-Ray SDK + botocore; sampled invocations only)", tracer)
print(json.dumps(steps))
"""


def breakdown(env: dict[str, str], key: str, name: str = "keys") -> dict[str, object]:
    """Where one buffered function's cold start goes: the app's imports by top-level package
    (`python -X importtime`), and the parts of its first request that load things."""
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        work = Path(tmp)
        run_env = _stage(work, name, env)
        app = str(work / "function" / "app.py")
        probe = "import importlib.util,sys\nspec=importlib.util.spec_from_file_location('app',sys.argv[1])\n"
        probe += "m=importlib.util.module_from_spec(spec)\nspec.loader.exec_module(m)\n"

        def python(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, *args], env=run_env, cwd=work, capture_output=True, text=True, timeout=120, check=False
            )

        traced = python("-X", "importtime", "-c", probe, app)
        steps = python("-c", BREAKDOWN, app, key)
    packages: dict[str, float] = {}
    for line in traced.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _, cumulative, module = line.split("|")
        if module.startswith("  "):  # nested import: already counted in its importer
            continue
        top = module.strip().split(".")[0]
        packages[top] = packages.get(top, 0.0) + int(cumulative) / 1000
    startup = ("site", "encodings", "zipimport", "io", "abc", "codecs")  # the interpreter's own start-up
    kept = ((p, ms) for p, ms in packages.items() if ms >= 2 and not p.startswith("_") and p not in startup)
    top = sorted(kept, key=lambda x: -x[1])
    first: dict[str, float] = {}
    if steps.returncode == 0 and steps.stdout.strip():
        first = json.loads(steps.stdout.strip().splitlines()[-1])
    return {"function": name, "imports": top[:8], "first_request_parts": first}
