"""OpenAI images request (`POST /v1/images/generations`); `async: true` asks for a task. A request
without `model` gets the catalog's default image model (PotatoRouter's example names none)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from gateway.formats.wire import WireModel


class ImageGenerationRequest(WireModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    model: str | None = Field(None, min_length=1, max_length=256)
    prompt: str = Field(min_length=1, max_length=32_000)
    n: Annotated[int, Field(strict=True, ge=1, le=128)] = 1
    size: str | None = Field(None, max_length=32)
    quality: str | None = Field(None, max_length=32)
    response_format: Literal["url", "b64_json"] = "url"
    run_async: bool = Field(False, alias="async")
    # A streamed answer (SSE, with partial images billed on top) is not served: the upstream would make
    # and bill the images, and answer in a form the gateway does not read.
    stream: Literal[False] | None = None
    partial_images: Literal[0] | None = None

    def upstream_body(self) -> dict[str, Any]:
        """What an OpenAI-compatible image upstream gets: the client's fields but the gateway's."""
        body = self.sent(by_alias=True)
        body.pop("async", None)
        return body

    def naming(self, model: str, *, run_async: bool | None = None) -> ImageGenerationRequest:
        """The same request for `model` (and as a task, or not), every field the client set kept set."""
        fields = self.sent(by_alias=True)
        fields["model"] = model
        if run_async is not None:
            fields["async"] = run_async
        return type(self).model_validate(fields)


class TaskImageRequest(ImageGenerationRequest):
    """The credits platform's `POST /api/v1/images/generations`: `model` is required (`model_required`),
    and the answer is always a task."""

    model: str = Field(min_length=1, max_length=256)

    def as_task(self) -> ImageGenerationRequest:
        return self.naming(self.model, run_async=True)
