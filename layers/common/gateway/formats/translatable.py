"""The shape every provider's translator relies on, checked on a request's canonical form before it is
admitted: a field of the wrong type (`stop: 5`, `tool_calls: [null]`, a `json_schema` that is a string)
is the client's 400, in its endpoint's envelope, before any credit is held, and never a translator's
crash after the hold. Only types are checked, and only of the fields translators read: values and
fields they pass on as sent are the upstream's to judge."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from gateway.canonical import ChatRequest
from gateway.errors import InvalidRequest


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class _ImageUrl(_Open):
    url: str


class _File(_Open):
    file_data: str | None = None
    file_id: str | None = None
    filename: str | None = None


class _Part(_Open):
    type: str
    text: str | None = None
    image_url: _ImageUrl | str | None = None
    file: _File | None = None
    input_audio: dict[str, Any] | None = None


class _Function(_Open):
    name: str


class _ToolCall(_Open):
    function: _Function


class _Message(_Open):
    role: str
    content: str | list[_Part] | None = None
    tool_calls: list[_ToolCall] | None = None
    thinking_blocks: list[dict[str, Any]] | None = None


class _ToolChoice(_Open):
    function: _Function | None = None


class _ResponseFormat(_Open):
    type: str
    json_schema: dict[str, Any] | None = None


class _Translatable(_Open):
    messages: list[_Message] | None = None  # a legacy completion has none: its prompt goes as sent
    stop: str | list[str] | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | _ToolChoice | None = None
    reasoning_effort: str | None = None
    response_format: _ResponseFormat | None = None
    modalities: list[str] | None = None


_SHAPE = TypeAdapter(_Translatable)


def check(request: ChatRequest) -> None:
    """The 400 of the first field a translator could not read."""
    try:
        _SHAPE.validate_python(request)
    except ValidationError as error:
        first = error.errors()[0]
        param = _param(first["loc"])
        raise InvalidRequest(f"`{param}`: {first['msg']}." if param else f"{first['msg']}.", param=param) from None


def _param(loc: tuple[int | str, ...]) -> str | None:
    """`messages[1].tool_calls[0].function`: the path of the field, without the union members pydantic
    names in it (`list[_Part]`, `_ToolChoice`, `str`)."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part.isidentifier() and not part.startswith("_") and part not in _TYPE_NAMES:
            path += f".{part}" if path else part
    return path or None


_TYPE_NAMES = frozenset({"str", "int", "float", "bool", "dict", "list", "none"})
