"""The transcription formats drawn from an upstream's verbose_json, and the multipart form's checks."""

from __future__ import annotations

import io
import json
from typing import Any

import anyio
import pytest
from starlette.datastructures import FormData, Headers, UploadFile

from gateway.errors import InvalidRequest, ModelRequired
from gateway.formats.audio import (
    SpeechRequest,
    cues_of,
    render_transcription,
    timestamp,
    to_srt,
    to_vtt,
    transcription_request,
)

VERBOSE: dict[str, Any] = {
    "task": "transcribe",
    "language": "english",
    "duration": 4.2,
    "text": "Hello there. How are you?",
    "segments": [
        {"id": 0, "start": 0.0, "end": 1.5, "text": " Hello there."},
        {"id": 1, "start": 1.5, "end": 4.2, "text": " How are  you?"},
    ],
}


def test_json_is_the_text_only() -> None:
    rendered = render_transcription(VERBOSE, "json")
    assert json.loads(rendered.body) == {"text": "Hello there. How are you?"}
    assert rendered.media_type == "application/json"


def test_text_is_plain_with_a_final_newline() -> None:
    rendered = render_transcription(VERBOSE, "text")
    assert rendered.body == b"Hello there. How are you?\n"
    assert rendered.media_type == "text/plain; charset=utf-8"


def test_verbose_json_is_the_upstream_answer() -> None:
    rendered = render_transcription(VERBOSE, "verbose_json")
    assert json.loads(rendered.body) == VERBOSE
    assert rendered.media_type == "application/json"


def test_srt() -> None:
    rendered = render_transcription(VERBOSE, "srt")
    assert rendered.body.decode() == (
        "1\n00:00:00,000 --> 00:00:01,500\nHello there.\n\n2\n00:00:01,500 --> 00:00:04,200\nHow are you?\n\n"
    )
    assert rendered.media_type == "text/plain; charset=utf-8"


def test_vtt() -> None:
    rendered = render_transcription(VERBOSE, "vtt")
    assert rendered.body.decode() == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.500\nHello there.\n\n00:00:01.500 --> 00:00:04.200\nHow are you?\n\n"
    )
    assert rendered.media_type == "text/vtt; charset=utf-8"


def test_without_segments_the_whole_text_is_one_cue_lasting_the_duration() -> None:
    answer = {"text": "Just this.", "duration": 2.0}
    assert cues_of(answer) == [(0.0, 2.0, "Just this.")]
    assert cues_of({"text": "Just this."}, duration=3.5) == [(0.0, 3.5, "Just this.")]
    assert to_srt(cues_of(answer)) == "1\n00:00:00,000 --> 00:00:02,000\nJust this.\n\n"


def test_nothing_said_renders_empty_subtitles() -> None:
    assert to_srt(cues_of({"text": ""})) == ""
    assert to_vtt(cues_of({"text": "  ", "segments": []})) == "WEBVTT\n\n"


def test_malformed_segments_are_skipped() -> None:
    answer = {
        "text": "a b",
        "segments": [
            "nonsense",
            {"start": "0", "end": 1, "text": "no start"},
            {"start": 1, "end": None, "text": " open end "},
            {"start": 2, "end": 1, "text": "ends before it starts"},
            {"start": 3, "end": 4, "text": "   "},
        ],
    }
    assert cues_of(answer) == [(1.0, 1.0, "open end"), (2.0, 2.0, "ends before it starts")]


@pytest.mark.parametrize(
    ("seconds", "srt", "vtt"),
    [
        (0, "00:00:00,000", "00:00:00.000"),
        (1.2345, "00:00:01,234", "00:00:01.234"),
        (1.2346, "00:00:01,235", "00:00:01.235"),
        (59.9999, "00:01:00,000", "00:01:00.000"),
        (3723.004, "01:02:03,004", "01:02:03.004"),
        (-1, "00:00:00,000", "00:00:00.000"),
    ],
)
def test_timestamps(seconds: float, srt: str, vtt: str) -> None:
    assert timestamp(seconds, ",") == srt
    assert timestamp(seconds, ".") == vtt


def test_unknown_format_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="diarized_json"):
        render_transcription(VERBOSE, "diarized_json")


# --- the request -------------------------------------------------------------------------------


def upload(content: bytes = b"RIFF", filename: str | None = "a.wav", content_type: str = "audio/wav") -> UploadFile:
    return UploadFile(io.BytesIO(content), filename=filename, headers=Headers({"content-type": content_type}))


def read(*items: tuple[str, Any]) -> Any:
    return anyio.run(transcription_request, FormData(list(items)))


def test_a_full_form_is_read() -> None:
    request = read(
        ("file", upload(b"RIFF....", "C:\\clips\\voice.wav")),
        ("model", "test/whisper"),
        ("language", "en"),
        ("prompt", "Names: Ana."),
        ("temperature", "0.3"),
        ("response_format", "srt"),
        ("timestamp_granularities[]", "word"),
        ("timestamp_granularities[]", "segment"),
        ("chunking_strategy", "auto"),
    )
    assert request.file.filename == "voice.wav"
    assert request.file.content == b"RIFF...."
    assert request.file.content_type == "audio/wav"
    assert request.upstream_fields("whisper-1") == {
        "model": "whisper-1",
        "response_format": "verbose_json",
        "language": "en",
        "prompt": "Names: Ana.",
        "temperature": "0.3",
        "timestamp_granularities[]": ["word", "segment"],
    }
    assert request.response_format == "srt"


def test_defaults() -> None:
    request = read(("file", upload(filename=None)), ("model", "m"), ("language", ""))
    assert request.response_format == "json"
    assert request.file.filename == "audio"
    assert request.language is None
    assert request.upstream_fields("m") == {"model": "m", "response_format": "verbose_json"}


@pytest.mark.parametrize(
    ("items", "error", "param"),
    [
        ([("model", "m")], InvalidRequest, "file"),
        ([("file", "text"), ("model", "m")], InvalidRequest, "file"),
        ([("file", upload()), ("file", upload()), ("model", "m")], InvalidRequest, "file"),
        ([("file", upload())], ModelRequired, "model"),
        ([("file", upload()), ("model", "  ")], ModelRequired, "model"),
        ([("file", upload()), ("model", upload())], InvalidRequest, "model"),
        ([("file", upload()), ("model", "m"), ("model", "n")], InvalidRequest, "model"),
        ([("file", upload()), ("model", "m"), ("response_format", "xml")], InvalidRequest, "response_format"),
        ([("file", upload()), ("model", "m"), ("temperature", "hot")], InvalidRequest, "temperature"),
        ([("file", upload()), ("model", "m"), ("temperature", "1.5")], InvalidRequest, "temperature"),
        ([("file", upload()), ("model", "m"), ("language", "x" * 33)], InvalidRequest, "language"),
        ([("file", upload()), ("model", "m"), ("stream", "true")], InvalidRequest, "stream"),
        ([("file", upload()), ("model", "m"), ("timestamp_granularities[]", "char")], InvalidRequest,
         "timestamp_granularities"),
    ],
)  # fmt: skip
def test_bad_forms_name_their_field(items: list[tuple[str, Any]], error: type[Exception], param: str) -> None:
    with pytest.raises(error) as raised:
        read(*items)
    assert getattr(raised.value, "param", None) == param


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"voice": "alloy", "input": ""}, "input"),
        ({"voice": "alloy", "input": " \n"}, "input"),
        ({"voice": "", "input": "hi"}, "voice"),
        ({"voice": {"name": "x"}, "input": "hi"}, "voice"),
        ({"voice": "alloy", "input": "hi", "speed": 0.2}, "speed"),
        ({"voice": "alloy", "input": "hi", "response_format": "ogg"}, "response_format"),
    ],
)
def test_bad_speech_requests(fields: dict[str, Any], param: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as raised:
        SpeechRequest.model_validate({"model": "m", **fields})
    assert raised.value.errors()[0]["loc"][0] == param


def test_speech_request_passes_unknown_fields_and_names_custom_voices() -> None:
    request = SpeechRequest.model_validate({"model": "m", "voice": {"id": "voice_1"}, "input": "héllo", "extra": 1})
    assert request.voice_name == "voice_1"
    assert request.characters == 5
    assert request.wire_body() == {"model": "m", "voice": {"id": "voice_1"}, "input": "héllo", "extra": 1}
