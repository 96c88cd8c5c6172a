"""Gemini streams as Google's clients read them: their heartbeats are empty lines (google-genai reads
an SSE comment as JSON), and `:streamGenerateContent` is served as SSE (`alt=sse`) only."""

from __future__ import annotations

import threading

import httpx

from tests.support.sdks import gemini_sdk


def test_the_google_genai_sdk_reads_a_stream_that_carried_heartbeats(gateway_url, upstream, make_tenant):
    # Given a stream that pauses longer than HEARTBEAT_SECONDS (1 s in the tests)
    tenant = make_tenant("10")
    client = gemini_sdk(gateway_url, tenant.key)
    threading.Timer(2.5, upstream.gate.set).start()
    try:
        chunks = list(client.models.generate_content_stream(model="test/gated-stream", contents="one two"))
    finally:
        upstream.gate.set()
    assert "".join(chunk.text or "" for chunk in chunks).strip() == "echo: one two"


def test_a_gemini_stream_heartbeat_is_a_blank_line(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    body = {"contents": [{"role": "user", "parts": [{"text": "one two"}]}]}
    path = f"{gateway_url}/v1beta/models/test/gated-stream:streamGenerateContent?alt=sse"
    threading.Timer(2.5, upstream.gate.set).start()
    try:
        with httpx.stream("POST", path, json=body, headers={"x-goog-api-key": tenant.key}, timeout=20) as response:
            raw = response.read()
    finally:
        upstream.gate.set()
    assert b"keep-alive" not in raw
    assert b"\r\n\r\n\r\n" in raw  # an event's end, then the heartbeat's empty line


def test_stream_generate_content_without_alt_sse_is_refused_naming_alt(gateway_url, upstream, make_tenant):
    tenant = make_tenant("10")
    response = httpx.post(
        f"{gateway_url}/v1beta/models/test/gemini:streamGenerateContent",
        json={"contents": [{"role": "user", "parts": [{"text": "one two"}]}]},
        headers={"x-goog-api-key": tenant.key},
        timeout=20,
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT"
    assert "alt=sse" in error["message"]
    assert error["details"][0]["fieldViolations"][0]["field"] == "alt"
