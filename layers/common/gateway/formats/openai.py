"""OpenAI chat-completions request schema: what the gateway checks before touching credits.

Unknown fields pass through to the upstream untouched (extra="allow").
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.formats.wire import WireModel


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ChatCompletionRequest(WireModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    messages: list[ChatMessage] = Field(min_length=1, max_length=10_000)
    stream: bool = False
    stream_options: StreamOptions | None = None
    max_tokens: int | None = Field(None, ge=1, le=10_000_000)
    max_completion_tokens: int | None = Field(None, ge=1, le=10_000_000)
    n: int = Field(1, ge=1, le=128)

    def requested_output_tokens(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens

    def wire_body(self) -> dict[str, Any]:
        """The body as the client sent it (fields it did not send stay absent)."""
        return self.model_dump(mode="json", exclude_unset=True)


class EmbeddingsRequest(WireModel):
    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=1, max_length=256)
    input: str | list[str] | list[int] | list[list[int]] = Field(min_length=1)
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: int | None = Field(None, ge=1, le=100_000)

    def wire_body(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_unset=True)
