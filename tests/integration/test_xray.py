"""In Lambda, the chat function sends the upstream call and its DynamoDB calls to X-Ray as subsegments
of the invocation's trace (which the Web Adapter hands over as `x-amzn-trace-id`). A fake X-Ray daemon
on loopback UDP receives what the real one would."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from devtools.dynamodb_local import free_port
from devtools.template import ROOT

TRACE_ROOT = "1-67891233-abcdef012345678912345678"


def traced_chat(
    gateway_env: dict[str, str], key: str, model: str, *, until: tuple[str, ...]
) -> tuple[httpx.Response, list[str]]:
    """One chat request to the chat function as Lambda runs it, sampled: its answer, and the X-Ray
    documents its fake daemon received (until each of `until` was in one of them, or 10 s)."""
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(0.5)
    port = free_port()
    env = {
        **os.environ,
        **gateway_env,
        "PORT": str(port),
        "PYTHONPATH": str(ROOT / "layers" / "common"),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        # what Lambda sets for a function with active tracing
        "LAMBDA_TASK_ROOT": str(ROOT / "functions" / "chat"),
        "AWS_LAMBDA_FUNCTION_NAME": "ChatFunction",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    }
    process = subprocess.Popen(
        [str(ROOT / "functions" / "chat" / "run.sh")], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=0.5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        response = httpx.post(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            json={"model": model, "messages": [{"role": "user", "content": "a secret prompt"}]},
            headers={
                "Authorization": f"Bearer {key}",
                "x-amzn-trace-id": f"Root={TRACE_ROOT};Parent=53995c3f42cd8ad8;Sampled=1",
            },
            timeout=20,
        )
        documents: list[str] = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not all(any(part in d for d in documents) for part in until):
            try:
                documents.append(daemon.recv(65536).decode())
            except TimeoutError:
                continue
    finally:
        process.terminate()
        process.wait(timeout=10)
        daemon.close()
    return response, documents


def test_the_upstream_call_is_an_annotated_subsegment_of_the_invocation(gateway_env, upstream, make_tenant):
    tenant = make_tenant("1")
    until = ("## upstream", '"UpdateItem"', '"TransactWriteItems"')
    response, documents = traced_chat(gateway_env, tenant.key, "test/echo", until=until)
    assert response.status_code == 200, response.text
    segments = [json.loads(document.split("\n", 1)[1]) for document in documents]
    (upstream_call,) = [s for s in segments if s.get("name") == "## upstream fake"]
    assert upstream_call["trace_id"] == TRACE_ROOT
    assert upstream_call["annotations"] == {"provider": "fake", "model": "test/echo", "stream": False}
    # the hold (one UpdateItem) and the settlement (one transaction), from the request's worker
    # threads, as the X-Ray SDK names AWS calls
    dynamo_calls = [s for s in segments if s.get("name") == "DynamoDB"]
    operations = [s["aws"]["operation"] for s in dynamo_calls]
    assert (operations.count("UpdateItem"), operations.count("TransactWriteItems")) == (1, 1)
    assert all(s["trace_id"] == TRACE_ROOT and s["namespace"] == "aws" for s in dynamo_calls)
    reads = [s for s in dynamo_calls if s["aws"]["operation"] == "GetItem"]  # the key lookup (not cached yet)
    assert reads
    assert all(s["aws"]["table_name"] == gateway_env["GATEWAY_TABLE"] for s in reads)
    assert "a secret prompt" not in "".join(documents)
    assert tenant.key not in "".join(documents)


def test_a_failed_upstream_call_is_recorded_by_its_kind_never_its_text(gateway_env, upstream, make_tenant):
    """An upstream's error text may quote the prompt (vLLM's, llama.cpp's 400s do): the X-Ray SDK's
    own subsegment would record it as the exception's message."""
    tenant = make_tenant("1")
    response, documents = traced_chat(gateway_env, tenant.key, "test/fail-500", until=("## upstream", '"Update'))
    assert response.status_code == 502, response.text
    segments = [json.loads(document.split("\n", 1)[1]) for document in documents]
    (upstream_call,) = [s for s in segments if s.get("name") == "## upstream fake"]
    assert upstream_call["fault"] is True
    assert upstream_call["annotations"]["failure"] == "UpstreamFailure"
    assert "cause" not in upstream_call
    assert "processing your request" not in "".join(documents)  # the fake's error text


KEYS_INVOCATION = r"""
import json, sys
from devtools.devserver import function_module
from tests.support.lambda_events import LambdaContext, rest_event

headers = {"Authorization": f"Bearer {sys.argv[1]}", "Content-Type": "application/json", "Host": "x",
           "Idempotency-Key": "xray-traced-key"}
event = rest_event("POST", "/api/v1/keys", headers, json.dumps({"name": "traced"}))
print(json.dumps(function_module("keys").handler(event, LambdaContext())))
"""


def test_a_sampled_buffered_invocation_never_sends_its_response_to_x_ray(gateway_env, make_tenant):
    """Given a buffered function (keys) in Lambda with active tracing, and X-Ray sampling this invocation
    When a management key creates a key (the answer holds the new key's full text, once)
    Then X-Ray gets the handler's subsegment but neither the new key nor the caller's: Powertools'
    default would record the whole response as subsegment metadata."""
    management = make_tenant("1", kind="management")
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(0.5)
    env = {
        **os.environ,
        **gateway_env,
        "PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'common'}",
        # what Lambda sets for a sampled invocation of a function with active tracing
        "LAMBDA_TASK_ROOT": str(ROOT / "functions" / "keys"),
        "AWS_LAMBDA_FUNCTION_NAME": "KeysFunction",
        "_X_AMZN_TRACE_ID": f"Root={TRACE_ROOT};Parent=53995c3f42cd8ad8;Sampled=1",
        "AWS_XRAY_DAEMON_ADDRESS": f"127.0.0.1:{daemon.getsockname()[1]}",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
    }
    try:
        done = subprocess.run(
            [sys.executable, "-c", KEYS_INVOCATION, management.key],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        answer = json.loads(done.stdout.strip().splitlines()[-1])
        documents = []
        while True:
            try:
                documents.append(daemon.recv(65536).decode())
            except TimeoutError:
                break
    finally:
        daemon.close()

    assert answer["statusCode"] == 201, answer
    new_key = json.loads(answer["body"])["key"]
    segments = [json.loads(document.split("\n", 1)[1]) for document in documents]
    assert any(s.get("name", "").startswith("## ") and s["trace_id"] == TRACE_ROOT for s in segments), segments
    sent = "".join(documents)
    assert new_key not in sent
    assert management.key not in sent
