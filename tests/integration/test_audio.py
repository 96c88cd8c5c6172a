"""Speech and transcription through the official `openai` SDK and plain HTTP, against the fake
OpenAI-compatible upstream: audio bytes with their content type, every transcription format drawn
from the upstream's verbose_json, charges in characters and seconds of audio, and bad input refused
in the OpenAI envelope before any credit or upstream is touched."""

from __future__ import annotations

import io
import math
import wave
from decimal import Decimal

import httpx
import openai
import pytest

from tests.conftest import balance_of, ledger_entry
from tests.support.audio_encodes import mp3_of_size
from tests.support.fake_openai import SPEECH_AUDIO
from tests.support.servers import start_function, stop_function

GRANT = 10_000_000
CHARACTER_PRICE = Decimal("15")  # test/tts: credits per 1M characters = micro-credits per character
SECOND_PRICE = Decimal("0.0001")  # test/whisper: credits per second of audio
CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "pcm": "audio/pcm",
}


def speech_micro(characters: int) -> int:
    return math.ceil(CHARACTER_PRICE * characters)


def transcription_micro(seconds: str) -> int:
    return math.ceil(SECOND_PRICE * 1_000_000 * Decimal(seconds))


def silent_wav(seconds: float = 2.5, rate: int = 16_000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(b"\x00\x00" * int(seconds * rate))
    return buffer.getvalue()


def sdk(url: str, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0, timeout=20)


@pytest.fixture
def tenant(make_tenant):  # type: ignore[no-untyped-def]
    return make_tenant("10")


def assert_error(response: httpx.Response, status: int, code: str, param: str | None) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "code", "param", "status"}
    assert error["code"] == code
    assert error["param"] == param
    assert error["message"]
    assert response.headers["x-trace-id"]
    return error


# --- speech ------------------------------------------------------------------------------------


def test_speech_through_the_sdk_returns_the_audio_and_charges_its_characters(gateway_url, upstream, tenant):
    """Given the openai SDK and a speech model priced per 1M characters
    When it asks for WAV speech
    Then it gets the upstream's bytes as audio/wav, the balance drops by exactly the characters'
    price, and the ledger records the endpoint and the characters."""
    text = "Hello from the gateway, spoken aloud."
    raw = sdk(gateway_url, tenant.key).audio.speech.with_raw_response.create(
        model="test/tts", voice="alloy", input=text, response_format="wav"
    )
    assert raw.headers["content-type"] == "audio/wav"
    assert raw.parse().content == SPEECH_AUDIO["wav"]
    with wave.open(io.BytesIO(raw.parse().content)) as audio:
        assert audio.getframerate() == 8000

    assert balance_of(tenant.account_id) == GRANT - speech_micro(len(text))
    entry = ledger_entry(raw.headers["x-trace-id"])
    assert entry is not None
    assert entry["endpoint"] == "audio.speech"
    assert entry["status"] == "success"
    assert entry["units"] == {"characters": len(text)}
    assert entry["credits"] == speech_micro(len(text))
    assert entry["provider"] == "fake"
    assert entry["usage_estimated"] is False
    [call] = upstream.calls("tts-fake")
    assert call == {"model": "tts-fake", "voice": "alloy", "input": text, "response_format": "wav"}


@pytest.mark.parametrize("response_format", sorted(CONTENT_TYPES))
def test_each_speech_format_answers_its_content_type(gateway_url, upstream, tenant, response_format):
    response = httpx.post(
        f"{gateway_url}/v1/audio/speech",
        json={"model": "test/tts", "voice": "nova", "input": "Hi!", "response_format": response_format, "speed": 1.5},
        headers={"Authorization": f"Bearer {tenant.key}"},
        timeout=20,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == CONTENT_TYPES[response_format]
    assert response.content == SPEECH_AUDIO[response_format]
    assert balance_of(tenant.account_id) == GRANT - speech_micro(3)
    assert upstream.calls("tts-fake")[0]["speed"] == 1.5


def test_speech_defaults_to_mp3(gateway_url, upstream, tenant):
    audio = sdk(gateway_url, tenant.key).audio.speech.create(model="test/tts", voice="echo", input="Default format")
    assert audio.content.startswith(b"ID3")
    assert audio.response.headers["content-type"] == "audio/mpeg"
    assert "response_format" not in upstream.calls("tts-fake")[0]


@pytest.mark.parametrize(
    ("body", "code", "param"),
    [
        ({"model": "test/tts", "voice": "shimmer", "input": "hi"}, "invalid_request", "voice"),
        ({"model": "test/tts", "voice": "alloy", "input": ""}, "invalid_request", "input"),
        ({"model": "test/tts", "voice": "alloy", "input": "   "}, "invalid_request", "input"),
        ({"model": "test/tts", "voice": "alloy", "input": "x" * 4097}, "invalid_request", "input"),
        ({"model": "test/tts", "input": "hi"}, "invalid_request", "voice"),
        ({"model": "test/tts", "voice": "alloy", "input": "hi", "response_format": "ogg"}, "invalid_request",
         "response_format"),
        ({"model": "test/tts", "voice": "alloy", "input": "hi", "speed": 5}, "invalid_request", "speed"),
        ({"model": "test/tts", "voice": "alloy", "input": "hi", "stream_format": "sse"}, "invalid_request",
         "stream_format"),
        ({"model": "test/whisper", "voice": "alloy", "input": "hi"}, "invalid_request", "model"),
        ({"model": "test/echo", "voice": "alloy", "input": "hi"}, "invalid_request", "model"),
        ({"voice": "alloy", "input": "hi"}, "model_required", "model"),
    ],
    ids=["unknown-voice", "empty-input", "blank-input", "long-input", "no-voice", "unknown-format", "speed",
         "sse", "transcription-model", "chat-model", "no-model"],
)  # fmt: skip
def test_bad_speech_requests_are_400_and_free(gateway_url, upstream, tenant, body, code, param):
    response = httpx.post(
        f"{gateway_url}/v1/audio/speech", json=body, headers={"Authorization": f"Bearer {tenant.key}"}, timeout=20
    )
    assert_error(response, 400, code, param)
    assert balance_of(tenant.account_id) == GRANT
    assert upstream.requests == []
    assert ledger_entry(response.headers["x-trace-id"]) is None


def test_unknown_voice_through_the_sdk_is_a_bad_request_error(gateway_url, upstream, tenant):
    with pytest.raises(openai.BadRequestError) as raised:
        sdk(gateway_url, tenant.key).audio.speech.create(model="test/tts", voice="onyx", input="hi")
    assert raised.value.status_code == 400
    assert "alloy, echo, nova" in raised.value.message
    assert upstream.requests == []


def test_speech_beyond_the_balance_is_402_and_the_upstream_is_not_called(gateway_url, upstream, make_tenant):
    poor = make_tenant("0.0001")  # 100 micro-credits: 6 characters at most
    response = httpx.post(
        f"{gateway_url}/v1/audio/speech",
        json={"model": "test/tts", "voice": "alloy", "input": "far too many characters"},
        headers={"Authorization": f"Bearer {poor.key}"},
        timeout=20,
    )
    assert_error(response, 402, "insufficient_credits", None)
    assert balance_of(poor.account_id) == 100
    assert upstream.requests == []


# --- transcription -----------------------------------------------------------------------------

SRT = "1\n00:00:00,000 --> 00:00:01,250\nhello\n\n2\n00:00:01,250 --> 00:00:02,500\nfrom speech.wav\n\n"
VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:01.250\nhello\n\n00:00:01.250 --> 00:00:02.500\nfrom speech.wav\n\n"


@pytest.mark.parametrize(
    ("response_format", "content_type"),
    [
        ("json", "application/json"),
        ("text", "text/plain; charset=utf-8"),
        ("srt", "text/plain; charset=utf-8"),
        ("verbose_json", "application/json"),
        ("vtt", "text/vtt; charset=utf-8"),
    ],
)
def test_transcription_of_a_real_wav_in_every_format(gateway_url, upstream, tenant, response_format, content_type):
    """Given a 2.5 s WAV made here and a transcription model priced per second
    When the openai SDK transcribes it in each response_format
    Then the answer is that format, drawn from the upstream's verbose_json, and the balance drops by
    exactly 2.5 seconds' price, recorded in the ledger as audio seconds."""
    audio = silent_wav(2.5)
    raw = sdk(gateway_url, tenant.key).audio.transcriptions.with_raw_response.create(
        model="test/whisper", file=("speech.wav", audio, "audio/wav"), response_format=response_format
    )
    assert raw.headers["content-type"] == content_type
    answer = raw.parse()
    if response_format == "json":
        assert answer.text == "hello from speech.wav"
        assert raw.http_response.json() == {"text": "hello from speech.wav"}
    elif response_format == "text":
        assert answer == "hello from speech.wav\n"
    elif response_format == "srt":
        assert answer == SRT
    elif response_format == "vtt":
        assert answer == VTT
    else:
        assert answer.text == "hello from speech.wav"
        assert answer.duration == 2.5
        assert [segment.text for segment in answer.segments or []] == [" hello", " from speech.wav"]

    assert balance_of(tenant.account_id) == GRANT - transcription_micro("2.5")
    entry = ledger_entry(raw.headers["x-trace-id"])
    assert entry is not None
    assert entry["endpoint"] == "audio.transcriptions"
    assert entry["status"] == "success"
    assert entry["units"] == {"audio_seconds": Decimal("2.5")}
    assert entry["credits"] == transcription_micro("2.5")
    assert entry["usage_estimated"] is False
    [call] = upstream.calls("whisper-fake")
    assert call["response_format"] == "verbose_json"  # whatever the client asked
    assert call["file"] == {"filename": "speech.wav", "content_type": "audio/wav", "size": len(audio)}


def test_transcription_options_reach_the_upstream(gateway_url, upstream, tenant):
    sdk(gateway_url, tenant.key).audio.transcriptions.create(
        model="test/whisper",
        file=("clip.wav", silent_wav(0.5), "audio/wav"),
        language="en",
        prompt="A greeting.",
        temperature=0.2,
        response_format="verbose_json",
        timestamp_granularities=["segment", "word"],
    )
    [call] = upstream.calls("whisper-fake")
    assert call["language"] == "en"
    assert call["prompt"] == "A greeting."
    assert float(call["temperature"]) == 0.2
    assert call["timestamp_granularities[]"] == ["segment", "word"]
    assert balance_of(tenant.account_id) == GRANT - transcription_micro("0.5")


def test_a_compressed_file_holds_its_size_bound_and_is_charged_the_reported_duration(gateway_url, upstream, tenant):
    """An MP3's duration is not in a header the gateway reads: it holds a bound from the size (750
    bytes per second) and charges the duration the upstream reports (the fake says 1.0 s)."""
    mp3 = mp3_of_size(7500)  # 10 s bound
    raw = sdk(gateway_url, tenant.key).audio.transcriptions.with_raw_response.create(
        model="test/whisper", file=("memo.mp3", mp3, "audio/mpeg")
    )
    assert raw.parse().text == "hello from memo.mp3"
    entry = ledger_entry(raw.headers["x-trace-id"])
    assert entry is not None
    assert entry["reserved"] == transcription_micro("10")
    assert entry["credits"] == transcription_micro("1")
    assert entry["units"] == {"audio_seconds": 1}
    assert balance_of(tenant.account_id) == GRANT - transcription_micro("1")


def test_a_wav_whose_block_align_lies_is_held_and_charged_for_what_it_plays(gateway_url, upstream, make_tenant):
    """A 60 s mono 16-bit WAV whose `block_align` says 65,534 (PCM decoders, the fake upstream's
    `wave` among them, size frames by channels and bits): held as 0.002 s and charged that (the
    charge never exceeds the hold) it would be transcribed for 1 micro-credit."""
    tenant = make_tenant("10")
    audio = bytearray(silent_wav(60))
    assert audio[32:34] == (2).to_bytes(2, "little")  # block_align, after the byte rate
    audio[32:34] = (65_534).to_bytes(2, "little")
    response = multipart(
        gateway_url, tenant.key, {"file": ("speech.wav", bytes(audio), "audio/wav")},
        {"model": "test/whisper", "response_format": "verbose_json"},
    )  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["duration"] == 60
    entry = ledger_entry(response.headers["x-trace-id"])
    assert entry is not None
    assert (entry["reserved"], entry["credits"]) == (transcription_micro("60"), transcription_micro("60"))


def multipart(gateway_url: str, key: str, files: dict, data: dict | None = None) -> httpx.Response:  # type: ignore[type-arg]
    return httpx.post(
        f"{gateway_url}/v1/audio/transcriptions",
        files=files,
        data=data,
        headers={"Authorization": f"Bearer {key}"},
        timeout=60,
    )


WAV = ("speech.wav", silent_wav(0.25), "audio/wav")


@pytest.mark.parametrize(
    ("files", "data", "code", "param"),
    [
        ({"model": (None, "test/whisper")}, None, "invalid_request", "file"),
        ({"file": WAV}, None, "model_required", "model"),
        ({"file": ("empty.wav", b"", "audio/wav")}, {"model": "test/whisper"}, "invalid_request", "file"),
        ({"file": ("notes.wav", b"these are not sounds at all", "audio/wav")}, {"model": "test/whisper"},
         "invalid_request", "file"),
        ({"file": ("cut.wav", b"RIFF\x24\x00\x00\x00WAVEjunk", "audio/wav")}, {"model": "test/whisper"},
         "invalid_request", "file"),
        ({"file": WAV}, {"model": "test/whisper", "response_format": "xml"}, "invalid_request", "response_format"),
        ({"file": WAV}, {"model": "test/whisper", "temperature": "3"}, "invalid_request", "temperature"),
        ({"file": (None, "not a file part")}, {"model": "test/whisper"}, "invalid_request", "file"),
        ({"file": WAV}, {"model": "test/tts"}, "invalid_request", "model"),
        ({"file": WAV}, {"model": "test/whisper", "stream": "true"}, "invalid_request", "stream"),
    ],
    ids=["missing-file", "missing-model", "empty-file", "not-audio", "unreadable-wav", "bad-response-format",
         "temperature", "file-as-field", "speech-model", "stream"],
)  # fmt: skip
def test_bad_transcription_requests_are_400_and_free(gateway_url, upstream, tenant, files, data, code, param):
    response = multipart(gateway_url, tenant.key, files, data)
    assert_error(response, 400, code, param)
    assert balance_of(tenant.account_id) == GRANT
    assert upstream.requests == []
    assert ledger_entry(response.headers["x-trace-id"]) is None


def test_a_transcription_that_is_not_multipart_is_400(gateway_url, upstream, tenant):
    response = httpx.post(
        f"{gateway_url}/v1/audio/transcriptions",
        json={"model": "test/whisper", "file": "speech.wav"},
        headers={"Authorization": f"Bearer {tenant.key}"},
        timeout=20,
    )
    assert_error(response, 400, "invalid_request", "file")
    assert upstream.requests == []


def test_non_audio_through_the_sdk_is_a_bad_request_error(gateway_url, upstream, tenant):
    with pytest.raises(openai.BadRequestError) as raised:
        sdk(gateway_url, tenant.key).audio.transcriptions.create(
            model="test/whisper", file=("picture.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 64, "image/png")
        )
    assert raised.value.status_code == 400
    assert upstream.requests == []
    assert balance_of(tenant.account_id) == GRANT


def test_an_upload_above_the_payload_limit_is_413_with_the_limit(gateway_url, upstream, tenant):
    """API Gateway's payload limit is 10 MB; the gateway refuses larger bodies itself, in the envelope."""
    huge = silent_wav(330.0)  # 16 kHz 16-bit mono: 10.56 MB
    assert len(huge) > 10 * 1024 * 1024
    response = multipart(gateway_url, tenant.key, {"file": ("long.wav", huge, "audio/wav")}, {"model": "test/whisper"})
    error = assert_error(response, 413, "request_too_large", None)
    assert str(10 * 1024 * 1024) in error["message"]
    assert balance_of(tenant.account_id) == GRANT
    assert upstream.requests == []


def test_transcription_needs_a_key(gateway_url, upstream):
    response = httpx.post(f"{gateway_url}/v1/audio/transcriptions", files={"file": WAV}, timeout=20)
    assert_error(response, 401, "invalid_api_key", None)
    assert upstream.requests == []


# --- as Lambda runs it -------------------------------------------------------------------------


def test_the_function_entry_takes_an_upload_and_returns_audio_bytes(gateway_env, upstream, tenant):
    """Lambda runs the audio function as it runs chat: run.sh starts uvicorn behind the Web Adapter,
    which hands API Gateway's base64 bodies over as bytes and streams the answer back (no 29 s or
    6 MB buffered limit on it)."""
    process, url = start_function("audio", gateway_env)
    auth = {"Authorization": f"Bearer {tenant.key}"}
    try:
        speech = httpx.post(
            f"{url}/v1/audio/speech",
            json={"model": "test/tts", "voice": "alloy", "input": "Hi", "response_format": "wav"},
            headers=auth,
            timeout=20,
        )
        upload = httpx.post(
            f"{url}/v1/audio/transcriptions",
            files={"file": ("s.wav", silent_wav(1.0), "audio/wav")},
            data={"model": "test/whisper", "response_format": "vtt"},
            headers=auth,
            timeout=20,
        )
    finally:
        stop_function(process)
    assert speech.status_code == 200, speech.text
    assert (speech.content, speech.headers["content-type"]) == (SPEECH_AUDIO["wav"], "audio/wav")
    assert upload.status_code == 200, upload.text
    assert upload.text.startswith("WEBVTT")
    assert balance_of(tenant.account_id) == GRANT - speech_micro(2) - transcription_micro("1")
