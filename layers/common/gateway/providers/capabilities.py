"""What an upstream can do, one small Protocol per capability, and the tokens routing and the registry
use to ask for one (`CHAT`, `EMBEDDINGS`, ...). A provider's client implements the capabilities its
upstream has; routing keeps only the candidates whose client has the endpoint's capability.

Every call names the model as the upstream knows it; requests and answers are canonical (OpenAI-shaped)
except for `NativeChat`, whose bodies are in the format the upstream shares with the client.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import ClassVar, Generic, Protocol, TypeVar, cast, runtime_checkable

from gateway.canonical import AudioUpload, Body, ChatCompletion, ChatRequest, ImagesResponse, StreamEvent

Events = AbstractAsyncContextManager[AsyncIterator[StreamEvent]]


@runtime_checkable
class Chat(Protocol):
    async def complete(self, body: ChatRequest, model: str) -> ChatCompletion:
        """A canonical request in, a canonical chat.completion out."""
        ...

    def stream(self, body: ChatRequest, model: str) -> Events:
        """Opens the stream (raising before any event if the upstream refuses); yields its events."""
        ...


@runtime_checkable
class NativeChat(Protocol):
    """The upstream speaks one of the inbound formats itself: a request in that format passes through
    untouched but for the model name (and the client's `headers` for that format go with it)."""

    native_format: ClassVar[str]

    async def complete_native(self, body: Body, model: str, headers: Mapping[str, str]) -> tuple[Body, ChatCompletion]:
        """The upstream's answer as is, and the same answer as canonical (for metering)."""
        ...

    def stream_native(self, body: Body, model: str, headers: Mapping[str, str]) -> Events:
        """Like Chat.stream; the events carry the upstream's bytes for pass-through."""
        ...


@runtime_checkable
class Embeddings(Protocol):
    async def embed(self, body: Body, model: str) -> Body:
        """An OpenAI embeddings request in, its answer (with `usage`) out."""
        ...


@runtime_checkable
class ImageGeneration(Protocol):
    async def generate_images(self, body: Body, model: str) -> ImagesResponse:
        """An OpenAI images request in; the images as `b64_json` or `url`, as `response_format` asks
        (an upstream that cannot give URLs answers `b64_json`)."""
        ...


@runtime_checkable
class Speech(Protocol):
    async def speak(self, body: Body, model: str) -> bytes:
        """An OpenAI speech request in, the audio bytes out."""
        ...


@runtime_checkable
class Transcription(Protocol):
    async def transcribe(self, fields: Mapping[str, str | list[str]], upload: AudioUpload) -> Body:
        """The transcription form's fields (the upstream's model name among them) and its file in;
        the verbose_json answer out."""
        ...


@runtime_checkable
class TextCompletions(Protocol):
    """OpenAI's legacy text completions (`/completions`), in its own shape."""

    async def complete_text(self, body: Body, model: str) -> tuple[Body, ChatCompletion]:
        """The upstream's answer as is, and as canonical (for metering)."""
        ...

    def stream_text(self, body: Body, model: str) -> Events:
        """Its events carry the upstream's bytes, and the text as canonical deltas."""
        ...


@runtime_checkable
class TokenCounting(Protocol):
    """How many input tokens a request would be, as the upstream counts them (free of charge)."""

    async def count_tokens(self, body: ChatRequest, model: str) -> int:
        """A canonical request in, its input tokens out."""
        ...

    async def count_tokens_native(self, body: Body, model: str, headers: Mapping[str, str]) -> Body:
        """A request in the upstream's own format (its count-tokens body), its answer as is."""
        ...


C = TypeVar("C")


@dataclass(frozen=True)
class Capability(Generic[C]):
    """A capability as routing asks for it: the name errors use, and its Protocol."""

    name: str
    protocol: type

    def of(self, client: object) -> C:
        if not isinstance(client, self.protocol):
            raise TypeError(f"{type(client).__name__} has no {self.name}")
        return cast(C, client)


CHAT = Capability[Chat]("chat", Chat)
EMBEDDINGS = Capability[Embeddings]("embeddings", Embeddings)
IMAGE_GENERATION = Capability[ImageGeneration]("image generation", ImageGeneration)
SPEECH = Capability[Speech]("speech", Speech)
TRANSCRIPTION = Capability[Transcription]("transcription", Transcription)
TEXT_COMPLETIONS = Capability[TextCompletions]("text completions", TextCompletions)
TOKEN_COUNTING = Capability[TokenCounting]("token counting", TokenCounting)
