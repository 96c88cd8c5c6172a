"""Speech and transcription: check the request, reserve its cost (known up front for speech, the
file's duration or its size bound for transcription), call the OpenAI-compatible candidates in order
(falling back on their failures), settle in the media's own units."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from gateway.auth.authenticate import Principal
from gateway.billing.credits import Outcome
from gateway.catalog.registry import ModelEntry, get_catalog
from gateway.errors import InvalidRequest
from gateway.formats.audio import (
    SPEECH_CONTENT_TYPES,
    SpeechRequest,
    TranscriptionRequest,
    render_transcription,
)
from gateway.formats.inbound import Exchange
from gateway.providers.openai import audio as upstream
from gateway.providers.openai.transform import Usage
from gateway.services.admission import admit
from gateway.services.audio_files import inspect, reported_seconds
from gateway.services.inference import Call
from gateway.services.routing import Candidate

SERVING_KIND = "openai"  # audio goes to OpenAI-compatible upstreams only


@dataclass(frozen=True)
class AudioAnswer:
    content: bytes
    media_type: str
    headers: dict[str, str]


async def speak(principal: Principal, request: SpeechRequest, trace_id: str) -> AudioAnswer:
    body = request.wire_body()
    characters = request.characters

    def cost_bound(entry: ModelEntry) -> int:
        _require(entry, "speech", "text-to-speech")
        media = entry.media
        if media is not None and media.voices and request.voice_name not in media.voices:
            raise InvalidRequest(
                f"`{entry.id}` has no voice `{request.voice_name}`; its voices: {', '.join(media.voices)}.",
                param="voice",
            )
        if media is not None and media.formats and request.response_format not in media.formats:
            raise InvalidRequest(
                f"`{entry.id}` does not speak in `{request.response_format}`; its formats: {', '.join(media.formats)}.",
                param="response_format",
            )
        return entry.pricing.speech_cost(characters)

    started = time.monotonic()
    admission = await admit(principal, request.model, cost_bound, trace_id)
    call = Call(Exchange("openai", "audio.speech", request.model, body, body, stream=False), admission, started)
    candidate, audio, upstream_started = await call.first_answer(
        lambda candidate: upstream.speech(candidate.endpoint, body, candidate.model), kinds=(SERVING_KIND,)
    )
    cost = call.entry.pricing.speech_cost(characters)
    await call.settle(_served(call, candidate, upstream_started, cost, {"characters": characters}, estimated=False))
    return AudioAnswer(audio, SPEECH_CONTENT_TYPES[request.response_format], await admission.headers())


async def transcribe(principal: Principal, request: TranscriptionRequest, trace_id: str) -> AudioAnswer:
    info = inspect(request.file.content)  # empty, not audio, unreadable WAV: 400 before any credit

    def cost_bound(entry: ModelEntry) -> int:
        _require(entry, "transcription", "transcription")
        return entry.pricing.transcription_cost(info.bound_seconds)

    started = time.monotonic()
    admission = await admit(principal, request.model, cost_bound, trace_id)
    body = request.ledger_body()
    exchange = Exchange("openai", "audio.transcriptions", request.model, body, body, stream=False)
    call = Call(exchange, admission, started)
    candidate, answer, upstream_started = await call.first_answer(
        lambda candidate: upstream.transcription(
            candidate.endpoint, request.upstream_fields(candidate.model), request.file
        ),
        kinds=(SERVING_KIND,),
    )
    reported = reported_seconds(answer)
    seconds = reported if reported is not None else info.bound_seconds
    rendered = render_transcription(answer, request.response_format, float(seconds))
    cost = call.entry.pricing.transcription_cost(seconds)
    estimated = reported is None and info.estimated
    await call.settle(_served(call, candidate, upstream_started, cost, {"audio_seconds": seconds}, estimated))
    return AudioAnswer(rendered.body, rendered.media_type, {**rendered.headers, **await admission.headers()})


def _require(entry: ModelEntry, category: str, what: str) -> None:
    """The model is of the endpoint's category and has an upstream that serves audio (before credits)."""
    if entry.category != category:
        raise InvalidRequest(f"`{entry.id}` is not a {what} model.", param="model")
    providers = get_catalog().providers
    if not any(providers[choice.provider].kind == SERVING_KIND for choice in entry.providers):
        raise InvalidRequest(f"No provider of `{entry.id}` serves audio.", param="model")


def _served(
    call: Call, candidate: Candidate, upstream_started: float, cost: int, units: dict[str, Any], estimated: bool
) -> Outcome:
    """The answer reached the client: charge its media units (no tokens)."""
    outcome = call.served(candidate, Usage(prompt_tokens=0, completion_tokens=0), 0, upstream_started)
    return replace(outcome, cost=cost, units=units, usage_estimated=estimated)
