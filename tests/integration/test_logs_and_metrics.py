"""What the chat function writes to its logs (CloudWatch in AWS): metrics in EMF and trace ids,
never an API key, a provider credential or prompt text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from devtools.dynamodb_local import free_port
from devtools.template import ROOT
from tests.support.fake_openai import PROVIDER_KEY

SECRET_PROMPT = "my social security number is 078-05-1120"


def test_logs_carry_metrics_and_trace_ids_but_no_secrets(gateway_env, upstream, make_tenant, tmp_path: Path):
    # Given the chat function started as in Lambda, its output captured
    log_file = tmp_path / "chat.log"
    port = free_port()
    env = {
        **os.environ,
        **gateway_env,
        "PORT": str(port),
        "PYTHONPATH": str(ROOT / "layers" / "common"),
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "POWERTOOLS_LOG_LEVEL": "DEBUG",
    }
    with log_file.open("wb") as sink:
        process = subprocess.Popen([str(ROOT / "functions" / "chat" / "run.sh")], env=env, stdout=sink, stderr=sink)
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{url}/health", timeout=0.5).status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            tenant = make_tenant("10")
            headers = {"Authorization": f"Bearer {tenant.key}"}
            messages = [{"role": "user", "content": SECRET_PROMPT}]
            # When it serves a success, a stream cut midway, an upstream failure and a bad key
            traces = []
            for model, stream in (("test/echo", False), ("test/cut-stream", True), ("test/fail-500", False)):
                response = httpx.post(
                    f"{url}/v1/chat/completions",
                    json={"model": model, "messages": messages, "stream": stream},
                    headers=headers,
                    timeout=20,
                )
                traces.append(response.headers["x-trace-id"])
            httpx.post(
                f"{url}/v1/chat/completions",
                json={"model": "test/echo", "messages": messages},
                headers={"Authorization": "Bearer sk-gw-this-key-does-not-exist-000000"},
            )
        finally:
            process.terminate()
            process.wait(timeout=10)
    output = log_file.read_text(encoding="utf-8", errors="replace")

    # Then there are EMF metrics for every settled request, with model and provider dimensions
    blobs = [json.loads(line) for line in output.splitlines() if line.startswith("{") and '"_aws"' in line]
    settled = [blob for blob in blobs if "Requests" in blob]
    assert len(settled) == 3
    directive = settled[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "AIGateway"
    assert directive["Dimensions"] == [["service"], ["service", "model", "provider"]]
    names = {metric["Name"] for metric in directive["Metrics"]}
    assert {"Requests", "Latency", "PromptTokens", "CompletionTokens", "CreditsMicro"} <= names
    assert {m["model"] for m in settled} == {"test/echo", "test/cut-stream", "test/fail-500"}
    # And error responses are counted by code, upstream failures by provider, the cold start once
    codes = sorted(blob["code"] for blob in blobs if "ErrorResponses" in blob)
    assert codes == ["invalid_api_key", "provider_error", "provider_error"]
    assert sum("UpstreamErrors" in blob for blob in blobs) == 2
    assert sum("ColdStart" in blob for blob in blobs) == 1
    # And the warning about the cut stream names its trace id
    assert traces[1] in output
    # And no key, provider credential or prompt text appears anywhere
    for secret in (tenant.key, PROVIDER_KEY, "sk-gw-this-key-does-not-exist", SECRET_PROMPT, "078-05-1120"):
        assert secret not in output
