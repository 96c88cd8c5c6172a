"""The speech and transcription flows with admission, the credit store and the upstream replaced:
fallback over candidates, what is charged, and what a refusal leaves."""

from __future__ import annotations

import io
import wave
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import anyio
import pytest

from gateway.canonical import AudioUpload
from gateway.catalog.registry import MediaSpec, ModelEntry, Pricing, ProviderCandidate, ProviderConfig
from gateway.errors import InvalidRequest, ProviderError, UpstreamRejected
from gateway.formats.audio import SpeechRequest, TranscriptionRequest
from gateway.providers import health
from gateway.providers.capabilities import TRANSCRIPTION, Capability
from gateway.providers.credentials import Endpoint
from gateway.providers.errors import UpstreamFailure, UpstreamRefusal
from gateway.providers.openai.client import OpenAIClient
from gateway.services import audio, metering, routing
from gateway.services.admission import Admission
from gateway.services.routing import Candidate, Route
from gateway.storage import stores
from gateway.storage.credits import LedgerEntry, Reservation
from tests.support.audio_encodes import mp3_of_size
from tests.support.recording_stores import RecordingCredits, RecordingKeys, key_record, principal, recording_stores

OPENAI = ProviderConfig(kind="openai", base_url_env="X")
TTS = ModelEntry(
    id="t/tts",
    display_name="tts",
    owned_by="t",
    category="speech",
    pricing=Pricing(characters=Decimal(15)),
    media=MediaSpec(voices=("alloy",), formats=("mp3", "wav")),
    providers=(ProviderCandidate(provider="first", model="tts-a"), ProviderCandidate(provider="second", model="tts-b")),
)
WHISPER = ModelEntry(
    id="t/whisper",
    display_name="whisper",
    owned_by="t",
    category="transcription",
    pricing=Pricing(audio_seconds=Decimal("0.0001")),
    providers=(ProviderCandidate(provider="first", model="w-a"), ProviderCandidate(provider="second", model="w-b")),
)


def candidates(entry: ModelEntry) -> tuple[Candidate, ...]:
    return tuple(
        Candidate(choice.provider, OPENAI, choice.model, Endpoint(f"http://{choice.provider}", "k"))
        for choice in entry.providers
    )


class Harness:
    """Admission routes to the entry's two OpenAI-compatible candidates and holds the cost bound; the
    credit store records the settlement; the upstream answers as scripted."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reserved: list[int] = []
        self.sent: list[str] = []
        self.credits = RecordingCredits()
        health.reset()
        monkeypatch.setattr(metering, "admit", self.admit)

    @property
    def settled(self) -> list[LedgerEntry]:
        return self.credits.entries

    async def admit(
        self,
        principal: Any,
        model: str,
        capability: Capability[Any],
        cost_bound: Callable[[ModelEntry], int],
        trace_id: str,
    ) -> Admission:
        entry = TTS if model == TTS.id else WHISPER
        self.reserved.append(cost_bound(entry))
        reservation = Reservation(trace_id, "acct", "k" * 64, "sk-gw-k", entry.id, self.reserved[-1], "2026", 0)
        return Admission(principal, Route(entry, candidates(entry)), reservation, None)

    def upstream(self, monkeypatch: pytest.MonkeyPatch, name: str, *answers: Any) -> None:
        pending = list(answers)

        async def send(client: OpenAIClient, *args: Any) -> Any:
            self.sent.append(client.endpoint.base_url)
            answer = pending.pop(0)
            if isinstance(answer, BaseException):
                raise answer
            return answer

        monkeypatch.setattr(OpenAIClient, name, send)


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    harness = Harness(monkeypatch)
    stores.use(recording_stores(harness.credits, RecordingKeys()))
    yield harness
    stores.use(None)


def speech(**fields: Any) -> SpeechRequest:
    return SpeechRequest.model_validate({"model": TTS.id, "voice": "alloy", "input": "Hello", **fields})


def wav(seconds: float) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(b"\x00\x00" * int(seconds * 8000))
    return buffer.getvalue()


def transcription(content: bytes, response_format: str = "json") -> TranscriptionRequest:
    return TranscriptionRequest(WHISPER.id, AudioUpload("a.wav", content, "audio/wav"), response_format)


def test_speech_falls_back_on_an_upstream_failure_and_charges_the_characters_once(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.upstream(monkeypatch, "speak", UpstreamFailure("boom", status=503), b"ID3audio")
    answer = anyio.run(audio.speak, principal(), speech(), "gen-1")
    assert (answer.content, answer.media_type) == (b"ID3audio", "audio/mpeg")
    assert harness.sent == ["http://first", "http://second"]
    assert harness.reserved == [75]
    [outcome] = harness.settled
    assert (outcome.endpoint, outcome.provider, outcome.credits) == ("audio.speech", "second", 75)
    assert outcome.units == {"characters": 5}
    assert (outcome.prompt_tokens, outcome.completion_tokens, outcome.usage_estimated) == (0, 0, False)
    assert [attempt["provider"] for attempt in outcome.attempts] == ["first", "second"]
    assert [attempt["http_status"] for attempt in outcome.attempts] == [502, 200]


def test_speech_refused_by_the_upstream_is_not_retried_and_costs_nothing(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.upstream(monkeypatch, "speak", UpstreamRefusal(400, "input too odd", param="input"))
    with pytest.raises(UpstreamRejected) as raised:
        anyio.run(audio.speak, principal(), speech(), "gen-2")
    assert (raised.value.status, raised.value.param) == (400, "input")
    assert harness.sent == ["http://first"]
    [outcome] = harness.settled
    assert (outcome.credits, outcome.http_status, outcome.units) == (0, 400, None)


def test_when_every_candidate_fails_the_last_failure_is_answered_and_nothing_charged(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.upstream(monkeypatch, "speak", UpstreamFailure("a"), UpstreamFailure("b"))
    with pytest.raises(ProviderError):
        anyio.run(audio.speak, principal(), speech(), "gen-3")
    assert [outcome.credits for outcome in harness.settled] == [0]


@pytest.mark.parametrize(
    ("fields", "param"),
    [({"voice": "nova"}, "voice"), ({"response_format": "flac"}, "response_format"), ({"model": WHISPER.id}, "model")],
)
def test_speech_checks_the_catalog_before_reserving(
    harness: Harness, monkeypatch: pytest.MonkeyPatch, fields: dict[str, str], param: str
) -> None:
    harness.upstream(monkeypatch, "speak")
    with pytest.raises(InvalidRequest) as raised:
        anyio.run(audio.speak, principal(), speech(**fields), "gen-4")
    assert raised.value.param == param
    assert (harness.reserved, harness.settled, harness.sent) == ([], [], [])


def test_transcription_reserves_the_header_duration_and_charges_the_reported_one(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.upstream(monkeypatch, "transcribe", {"text": "hi", "duration": 1.9, "segments": []})
    answer = anyio.run(audio.transcribe, principal(), transcription(wav(2.0), "text"), "gen-5")
    assert (answer.content, answer.media_type) == (b"hi\n", "text/plain; charset=utf-8")
    assert harness.reserved == [200]
    [outcome] = harness.settled
    assert (outcome.endpoint, outcome.credits) == ("audio.transcriptions", 190)
    assert outcome.units == {"audio_seconds": Decimal("1.9")}


def test_transcription_without_a_reported_duration_charges_the_header_duration(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.upstream(monkeypatch, "transcribe", {"text": "hi"})
    anyio.run(audio.transcribe, principal(), transcription(wav(0.5)), "gen-6")
    [outcome] = harness.settled
    assert (outcome.credits, outcome.units, outcome.usage_estimated) == (50, {"audio_seconds": Decimal("0.5")}, False)


def test_a_compressed_file_without_a_reported_duration_is_charged_its_bound_as_an_estimate(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    harness.upstream(monkeypatch, "transcribe", {"text": "hi"})
    anyio.run(audio.transcribe, principal(), transcription(mp3_of_size(1500, tagged=False)), "gen-7")
    assert harness.reserved == [200]  # 1,500 bytes at 750 a second
    [outcome] = harness.settled
    assert (outcome.credits, outcome.units, outcome.usage_estimated) == (200, {"audio_seconds": Decimal(2)}, True)


def test_a_model_served_only_by_other_kinds_of_upstream_is_refused_before_reserving(
    fixture_catalog: None,
) -> None:
    entry = WHISPER.model_copy(update={"providers": (ProviderCandidate(provider="fake-anthropic", model="c"),)})
    with pytest.raises(InvalidRequest) as raised:
        routing.candidates_for(entry, key_record(), TRANSCRIPTION)
    assert raised.value.param == "model"
