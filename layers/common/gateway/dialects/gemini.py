"""The Gemini API's wire vocabulary, shared by the upstream (providers.gemini) and the inbound
format (formats.gemini).

Google's JSON mapping of its protos accepts each field under its lowerCamelCase name and its
original snake_case name (the REST samples send `system_instruction`, `inline_data`, the SDK sends
camelCase), so inbound bodies are read through `field()`; what we send is always camelCase.
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlsplit

from gateway.canonical import CompletionUsage, ToolCall, token_count
from gateway.dialects.anthropic import CARRIED, blocks_carried, carried_blocks

# google.rpc.Code names for the HTTP statuses the gateway answers with (Google's own mapping where
# it has one; 402 and 413 have none, see `status_name`).
STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "FAILED_PRECONDITION",  # Google answers "billing not enabled" with FAILED_PRECONDITION
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    413: "INVALID_ARGUMENT",  # Google: 400 "Request payload size exceeds the limit"
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

# Gemini stops a candidate for these when a filter (not the model) ended it.
CONTENT_FILTER_REASONS = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)

# Gemini 3 rejects a replayed functionCall without the thoughtSignature it came with; Google documents
# this value for histories that did not come from Gemini (or lost their signatures on the way).
SKIP_SIGNATURE = "skip_thought_signature_validator"

_CAMEL_HUMP = re.compile(r"(?<!^)(?=[A-Z])")


def status_name(status: int) -> str:
    if status in STATUS_NAMES:
        return STATUS_NAMES[status]
    return "INTERNAL" if status >= 500 else "INVALID_ARGUMENT"


def snake(camel: str) -> str:
    return _CAMEL_HUMP.sub("_", camel).lower()


def camel(name: str) -> str:
    """A field name in Gemini's camelCase, however it was sent (snake_case or camelCase)."""
    head, *rest = name.split("_")
    return head + "".join(word.title() for word in rest)


def field(obj: Any, camel: str) -> Any:
    """obj[camel] or obj[snake_case(camel)]; None when obj is not a mapping or has neither."""
    if not isinstance(obj, Mapping):
        return None
    value = obj.get(camel)
    return obj.get(snake(camel)) if value is None else value


def finish_to_openai(reason: Any, has_tool_calls: bool) -> str:
    if reason == "MAX_TOKENS":
        return "length"
    if reason in CONTENT_FILTER_REASONS:
        return "content_filter"
    return "tool_calls" if has_tool_calls else "stop"


def finish_from_openai(reason: Any) -> str:
    return {"length": "MAX_TOKENS", "content_filter": "SAFETY"}.get(str(reason), "STOP")


def _count(meta: Mapping[str, Any], camel: str) -> int:
    return token_count(field(meta, camel)) or 0  # Google leaves a zero count out


_COUNTS = ("promptTokenCount", "toolUsePromptTokenCount", "thoughtsTokenCount", "candidatesTokenCount")


def usage_to_openai(meta: Any, produced: Collection[str] = ()) -> CompletionUsage | None:
    """usageMetadata as OpenAI usage: thoughts are completion tokens (billed as output), tool-use
    prompt tokens are prompt tokens, cached content is part of promptTokenCount as in OpenAI. A count
    that is not one (negative, fractional, a string) makes it no report. Google leaves a zero count
    out, so a missing count is 0, unless `produced` names it ("candidatesTokenCount" when the answer
    holds output, "thoughtsTokenCount" when it holds thoughts): then it is no report either."""
    if not isinstance(meta, Mapping) or token_count(field(meta, "promptTokenCount")) is None:
        return None
    if any(field(meta, name) is not None and token_count(field(meta, name)) is None for name in _COUNTS):
        return None
    if any(field(meta, name) is None for name in produced):
        return None
    prompt = _count(meta, "promptTokenCount") + _count(meta, "toolUsePromptTokenCount")
    thoughts = _count(meta, "thoughtsTokenCount")
    completion = _count(meta, "candidatesTokenCount") + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": max(_count(meta, "totalTokenCount"), prompt + completion),
        "prompt_tokens_details": {
            "cached_tokens": _count(meta, "cachedContentTokenCount"),
            **({"audio_tokens": audio} if (audio := _audio_tokens(meta, "promptTokensDetails")) else {}),
            **({"cached_audio_tokens": cached} if (cached := _audio_tokens(meta, "cacheTokensDetails")) else {}),
        },
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def _audio_tokens(meta: Mapping[str, Any], camel: str) -> int:
    """Tokens of the AUDIO modality in a list of ModalityTokenCount (the prompt's, or its cached
    part's: each priced above text on some models)."""
    details = field(meta, camel)
    if not isinstance(details, list):
        return 0
    return sum(
        _count(detail, "tokenCount")
        for detail in details
        if isinstance(detail, Mapping) and str(field(detail, "modality") or "").upper() == "AUDIO"
    )


def usage_from_openai(usage: Mapping[str, Any]) -> dict[str, Any]:
    """OpenAI usage as usageMetadata (reasoning tokens move from candidates to thoughts)."""

    def number(value: Any) -> int:
        return value if isinstance(value, int) and value > 0 else 0

    prompt, completion = number(usage.get("prompt_tokens")), number(usage.get("completion_tokens"))
    prompt_details = usage.get("prompt_tokens_details")
    completion_details = usage.get("completion_tokens_details")
    cached = number(prompt_details.get("cached_tokens")) if isinstance(prompt_details, Mapping) else 0
    thoughts = number(completion_details.get("reasoning_tokens")) if isinstance(completion_details, Mapping) else 0
    thoughts = min(thoughts, completion)
    meta: dict[str, Any] = {
        "promptTokenCount": prompt,
        "candidatesTokenCount": completion - thoughts,
        "totalTokenCount": max(number(usage.get("total_tokens")), prompt + completion),
    }
    if cached:
        meta["cachedContentTokenCount"] = cached
    if thoughts:
        meta["thoughtsTokenCount"] = thoughts
    return meta


def call_signature(call: Mapping[str, Any]) -> str | None:
    """The thoughtSignature an OpenAI tool call carries (Google's own OpenAI-compatible convention)."""
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, Mapping) else None
    signature = google.get("thought_signature") if isinstance(google, Mapping) else None
    return signature if isinstance(signature, str) and signature else None


def carried_thinking(blocks: list[dict[str, Any]]) -> str:
    """Another vendor's signed thinking (Anthropic's) as a thoughtSignature, which a Gemini client keeps
    on the functionCall part and sends back: base64 of the carrier, as Google's own (the SDK reads them
    as bytes)."""
    return base64.b64encode(CARRIED.encode() + carried_blocks(blocks)).decode()


def thinking_carried(signature: Any) -> list[dict[str, Any]] | None:
    """The thinking blocks a thoughtSignature of the gateway carries (standard or URL-safe base64, as
    an SDK may write it back); None for Google's own signatures and anything else."""
    if not isinstance(signature, str) or not signature:
        return None
    try:
        data = base64.b64decode(signature.replace("-", "+").replace("_", "/") + "=" * (-len(signature) % 4))
    except ValueError:
        return None
    mark = CARRIED.encode()
    return blocks_carried(data[len(mark) :]) if data.startswith(mark) else None


def signed(call: ToolCall, signature: Any) -> ToolCall:
    if isinstance(signature, str) and signature:
        call["extra_content"] = {"google": {"thought_signature": signature}}
    return call


def data_url(mime_type: str, data: str) -> str:
    return f"data:{mime_type};base64,{data}"


def parse_data_url(url: str) -> tuple[str, str] | None:
    """(mime type, base64 data) of a `data:<mime>;base64,<data>` URL; None for anything else."""
    if not url.startswith("data:"):
        return None
    header, sep, data = url[5:].partition(",")
    if not sep:
        return None
    mime_type, *params = header.split(";")
    if "base64" not in params:
        return None
    try:
        base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    return (mime_type or "application/octet-stream"), data


def guess_mime(url: str, default: str) -> str:
    """The mime type a URL's file name suggests (Gemini requires one for fileData)."""
    try:
        path = urlsplit(url).path
    except ValueError:  # not a URL (an unclosed IPv6 bracket): nothing to guess from
        return default
    guessed, _ = mimetypes.guess_type(path, strict=False)
    return guessed or default


def is_web_url(url: str) -> bool:
    """An http(s) URL that parses (urlsplit raises on an unclosed IPv6 bracket: not a URL)."""
    try:
        return urlsplit(url).scheme in ("http", "https")
    except ValueError:
        return False


_SCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_INTS = ("minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties")


def json_schema(schema: Any) -> Any:
    """Gemini's OpenAPI-subset `Schema` (types in capitals, `nullable`, int64 as strings) as JSON Schema."""
    if not isinstance(schema, Mapping):
        return schema
    out: dict[str, Any] = {}
    for raw_key, value in schema.items():
        key = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), raw_key)
        if key == "type" and isinstance(value, str):
            if value.upper() != "TYPE_UNSPECIFIED":
                out["type"] = value.lower()
        elif key == "properties" and isinstance(value, Mapping):
            out["properties"] = {name: json_schema(sub) for name, sub in value.items()}
        elif key == "items":
            out["items"] = json_schema(value)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            out[key] = [json_schema(sub) for sub in value]
        elif key in _SCHEMA_INTS and isinstance(value, str) and value.isascii() and value.isdigit():
            out[key] = int(value)
        elif key == "example":
            out["examples"] = [value]
        elif key not in ("nullable", "propertyOrdering"):
            out[key] = value
    if field(schema, "nullable") is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out
