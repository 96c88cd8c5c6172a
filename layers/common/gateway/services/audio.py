"""Speech and transcription: metered calls holding their cost (known up front for speech; the file's
duration, or its size bound, for transcription) and charged in the media's own units."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from gateway.auth.authenticate import Principal
from gateway.billing import charges
from gateway.billing.charges import Charge
from gateway.canonical import Body
from gateway.catalog.registry import ModelEntry
from gateway.errors import InvalidRequest
from gateway.formats.audio import SPEECH_CONTENT_TYPES, SpeechRequest, TranscriptionRequest, render_transcription
from gateway.providers.capabilities import SPEECH, TRANSCRIPTION
from gateway.services.audio_files import AudioInfo, inspect, reported_seconds
from gateway.services.metering import metered_call
from gateway.services.routing import Candidate


@dataclass(frozen=True)
class AudioAnswer:
    content: bytes
    media_type: str
    headers: dict[str, str]


async def speak(principal: Principal, request: SpeechRequest, trace_id: str) -> AudioAnswer:
    body = request.wire_body()

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
        return entry.pricing.speech_cost(request.characters)

    async def send(candidate: Candidate) -> bytes:
        return await candidate.client(SPEECH).speak(body, candidate.model)

    def charge(entry: ModelEntry, audio: bytes) -> Charge:
        return charges.for_speech(entry.pricing, request.characters)

    answer = await metered_call(
        principal,
        request.model,
        trace_id,
        endpoint="audio.speech",
        capability=SPEECH,
        cost_bound=cost_bound,
        send=send,
        charge=charge,
    )
    return AudioAnswer(answer.content, SPEECH_CONTENT_TYPES[request.response_format], answer.headers)


async def transcribe(principal: Principal, request: TranscriptionRequest, trace_id: str) -> AudioAnswer:
    info = inspect(request.file.content)  # empty, not audio, unreadable WAV: 400 before any credit

    def cost_bound(entry: ModelEntry) -> int:
        _require(entry, "transcription", "transcription")
        return entry.pricing.transcription_cost(info.bound_seconds)

    async def send(candidate: Candidate) -> Body:
        return await candidate.client(TRANSCRIPTION).transcribe(request.upstream_fields(candidate.model), request.file)

    def charge(entry: ModelEntry, answer: Body) -> Charge:
        seconds, estimated = _duration(answer, info)
        return charges.for_transcription(entry.pricing, seconds, estimated=estimated)

    answer = await metered_call(
        principal,
        request.model,
        trace_id,
        endpoint="audio.transcriptions",
        capability=TRANSCRIPTION,
        cost_bound=cost_bound,
        send=send,
        charge=charge,
    )
    seconds, _ = _duration(answer.content, info)
    rendered = render_transcription(answer.content, request.response_format, float(seconds))
    return AudioAnswer(rendered.body, rendered.media_type, {**rendered.headers, **answer.headers})


def _duration(answer: Body, info: AudioInfo) -> tuple[Decimal, bool]:
    """The seconds to charge: the upstream's report, else the file's (estimated when a size bound)."""
    reported = reported_seconds(answer)
    if reported is not None:
        return reported, False
    return info.bound_seconds, info.estimated


def _require(entry: ModelEntry, category: str, what: str) -> None:
    """The model is of the endpoint's category (before credits)."""
    if entry.category != category:
        raise InvalidRequest(f"`{entry.id}` is not a {what} model.", param="model")
