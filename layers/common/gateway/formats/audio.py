"""OpenAI audio wire formats: the speech request (JSON), the transcription request (multipart form),
and the transcription answer rendered in each `response_format` from the upstream's verbose_json.

Rendering is pure: the gateway always asks the upstream for verbose_json and draws the client's
format from it, so every format is served whatever the upstream supports, and billed on `duration`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request

from gateway.canonical import AudioUpload
from gateway.errors import InvalidRequest, ModelRequired
from gateway.formats.wire import WireModel

SpeechFormat = Literal["mp3", "opus", "aac", "flac", "wav", "pcm"]
SPEECH_CONTENT_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "pcm": "audio/pcm",
}
MAX_SPEECH_INPUT = 4096  # characters, as OpenAI's

TRANSCRIPTION_FORMATS = ("json", "text", "srt", "verbose_json", "vtt")
MAX_PROMPT = 4096
MAX_LANGUAGE = 32
MAX_FILENAME = 255
GRANULARITIES = ("word", "segment")


class VoiceRef(BaseModel):
    """A custom voice: `{"id": "voice_..."}`."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=128)


class SpeechRequest(WireModel):
    """POST /v1/audio/speech. Unknown fields pass through to the upstream untouched."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    input: str = Field(min_length=1, max_length=MAX_SPEECH_INPUT)
    voice: str | VoiceRef
    response_format: SpeechFormat = "mp3"
    speed: Annotated[float, Field(strict=True, ge=0.25, le=4.0, allow_inf_nan=False)] | None = None
    instructions: str | None = Field(None, max_length=MAX_SPEECH_INPUT)
    stream_format: Literal["audio"] | None = None  # "sse" (audio deltas as events) is not served

    @field_validator("input")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the text to speak is blank")
        return value

    @field_validator("voice", mode="before")
    @classmethod
    def _voice_given(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError("a voice is required")
        return value

    @property
    def voice_name(self) -> str:
        return self.voice if isinstance(self.voice, str) else self.voice.id

    @property
    def characters(self) -> int:
        """What is billed: the input's length in Unicode code points."""
        return len(self.input)

    def wire_body(self) -> dict[str, Any]:
        """The body as the client sent it (fields it did not send stay absent)."""
        return self.sent()


@dataclass(frozen=True)
class TranscriptionRequest:
    """POST /v1/audio/transcriptions, read from its multipart form."""

    model: str
    file: AudioUpload
    response_format: str = "json"
    language: str | None = None
    prompt: str | None = None
    temperature: float | None = None
    timestamp_granularities: tuple[str, ...] = ()

    def upstream_fields(self, model: str) -> dict[str, str | list[str]]:
        """The form fields for the upstream: always verbose_json (it carries `duration` and segments)."""
        fields: dict[str, str | list[str]] = {"model": model, "response_format": "verbose_json"}
        if self.language is not None:
            fields["language"] = self.language
        if self.prompt is not None:
            fields["prompt"] = self.prompt
        if self.temperature is not None:
            fields["temperature"] = repr(self.temperature)
        if self.timestamp_granularities:
            fields["timestamp_granularities[]"] = list(self.timestamp_granularities)
        return fields


async def read_transcription(request: Request) -> TranscriptionRequest:
    """The transcription request of a multipart/form-data body."""
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        raise InvalidRequest(
            "Send the audio as multipart/form-data, with a `file` part and a `model` field.", param="file"
        )
    async with request.form() as form:
        return await transcription_request(form)


async def transcription_request(form: FormData) -> TranscriptionRequest:
    """Checks the form's fields; raises the 400 naming the first one that is missing or wrong.
    Fields OpenAI has and the gateway does not forward (chunking_strategy, include[], ...) are ignored."""
    uploads = form.getlist("file")
    if not uploads:
        raise InvalidRequest("`file` is required: the audio to transcribe, as a multipart file part.", param="file")
    if len(uploads) > 1:
        raise InvalidRequest("Send one `file` per request.", param="file")
    upload = uploads[0]
    if not isinstance(upload, UploadFile):
        raise InvalidRequest("`file` must be a file part (with a filename), not a plain field.", param="file")
    model = _text(form, "model", 256)
    if model is None:
        raise ModelRequired("`model` is required.", param="model")
    response_format = _text(form, "response_format", 32) or "json"
    if response_format not in TRANSCRIPTION_FORMATS:
        raise InvalidRequest(
            f"`response_format` must be one of {', '.join(TRANSCRIPTION_FORMATS)}.", param="response_format"
        )
    if (_text(form, "stream", 8) or "false").lower() not in ("false", "0"):
        raise InvalidRequest("Streamed transcriptions are not served; leave `stream` unset.", param="stream")
    granularities = tuple(_texts(form, "timestamp_granularities[]") + _texts(form, "timestamp_granularities"))
    if any(value not in GRANULARITIES for value in granularities):
        raise InvalidRequest("`timestamp_granularities[]` takes `word` and `segment`.", param="timestamp_granularities")
    content = await upload.read()
    return TranscriptionRequest(
        model=model,
        file=AudioUpload(_filename(upload.filename), content, upload.content_type or "application/octet-stream"),
        response_format=response_format,
        language=_text(form, "language", MAX_LANGUAGE),
        prompt=_text(form, "prompt", MAX_PROMPT),
        temperature=_temperature(_text(form, "temperature", 32)),
        timestamp_granularities=tuple(dict.fromkeys(granularities)),
    )


def _text(form: FormData, name: str, max_length: int) -> str | None:
    """A plain field's value; absent or empty is None."""
    values = form.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise InvalidRequest(f"`{name}` is given more than once.", param=name)
    value = values[0]
    if not isinstance(value, str):
        raise InvalidRequest(f"`{name}` must be a plain field, not a file.", param=name)
    value = value.strip()
    if len(value) > max_length:
        raise InvalidRequest(f"`{name}` is longer than {max_length} characters.", param=name)
    return value or None


def _texts(form: FormData, name: str) -> list[str]:
    values = form.getlist(name)
    if any(not isinstance(value, str) for value in values):
        raise InvalidRequest(f"`{name}` must be a plain field, not a file.", param=name)
    return [value.strip() for value in values if isinstance(value, str) and value.strip()]


def _temperature(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        temperature = float(value)
    except ValueError:
        temperature = -1.0
    if not 0 <= temperature <= 1:
        raise InvalidRequest("`temperature` must be a number from 0 to 1.", param="temperature")
    return temperature


def _filename(name: str | None) -> str:
    """The upload's base name, as the upstream may use its extension to guess the format."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '"')
    return cleaned[:MAX_FILENAME] or "audio"


# --- answers ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rendered:
    body: bytes
    media_type: str
    headers: dict[str, str] = field(default_factory=dict)


def render_transcription(verbose: dict[str, Any], response_format: str, duration: float | None = None) -> Rendered:
    """The client's response_format from the upstream's verbose_json answer."""
    text = verbose.get("text") if isinstance(verbose.get("text"), str) else ""
    assert isinstance(text, str)
    if response_format == "verbose_json":
        return Rendered(_json(verbose), "application/json")
    if response_format == "json":
        return Rendered(_json({"text": text}), "application/json")
    if response_format == "text":
        return Rendered((text + "\n").encode(), "text/plain; charset=utf-8")
    cues = cues_of(verbose, duration)
    if response_format == "srt":
        return Rendered(to_srt(cues).encode(), "text/plain; charset=utf-8")
    if response_format == "vtt":
        return Rendered(to_vtt(cues).encode(), "text/vtt; charset=utf-8")
    raise ValueError(f"unknown response_format {response_format!r}")


Cue = tuple[float, float, str]  # start and end in seconds, text


def cues_of(verbose: dict[str, Any], duration: float | None = None) -> list[Cue]:
    """The answer's segments as subtitle cues; without segments, the whole text as one cue."""
    cues: list[Cue] = []
    segments = verbose.get("segments")
    for segment in segments if isinstance(segments, list) else []:
        if not isinstance(segment, dict):
            continue
        text = segment.get("text")
        start, end = _seconds(segment.get("start")), _seconds(segment.get("end"))
        if not isinstance(text, str) or not text.strip() or start is None:
            continue
        cues.append((start, max(end if end is not None else start, start), " ".join(text.split())))
    if cues:
        return cues
    text = verbose.get("text")
    if not isinstance(text, str) or not text.strip():
        return []
    end = _seconds(verbose.get("duration"))
    end = end if end is not None else (duration or 0.0)
    return [(0.0, end, " ".join(text.split()))]


def to_srt(cues: list[Cue]) -> str:
    blocks = [
        f"{number}\n{timestamp(start, ',')} --> {timestamp(end, ',')}\n{text}\n"
        for number, (start, end, text) in enumerate(cues, start=1)
    ]
    return "\n".join(blocks) + ("\n" if blocks else "")


def to_vtt(cues: list[Cue]) -> str:
    blocks = [f"{timestamp(start, '.')} --> {timestamp(end, '.')}\n{text}\n" for start, end, text in cues]
    return "WEBVTT\n\n" + "\n".join(blocks) + ("\n" if blocks else "")


def timestamp(seconds: float, separator: str) -> str:
    """hh:mm:ss,mmm (SRT) or hh:mm:ss.mmm (WebVTT), rounded to the millisecond."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _seconds(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if value >= 0 and value == value and value != float("inf") else None


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
