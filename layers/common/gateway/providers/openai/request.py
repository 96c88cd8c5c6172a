"""The canonical request as an OpenAI-compatible upstream takes it. Pure: the canonical format is
OpenAI's own, so little changes but the model name and the gateway's extensions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.canonical import Body


def chat_request(body: Mapping[str, Any], upstream_model: str) -> Body:
    """The upstream body: the client's, with the upstream's model name; streams always report usage."""
    request = {**body, "model": upstream_model}
    if request.get("stream"):
        request["stream_options"] = {**(request.get("stream_options") or {}), "include_usage": True}
    else:
        request.pop("stream_options", None)
    return request


def with_model(body: Mapping[str, Any], upstream_model: str) -> Body:
    """An embeddings, images or speech body: the client's, with the upstream's model name."""
    return {**body, "model": upstream_model}


# Fields other formats' requests carry in the canonical body that OpenAI itself would refuse.
_EXTENSIONS = ("reasoning",)  # top_k goes on: vLLM and others honour it, OpenAI answers a 400 naming it


def from_canonical(body: Mapping[str, Any]) -> Body:
    """A canonical body (translated from another format) as OpenAI takes it: the gateway's extensions
    mapped where OpenAI has an equivalent (reasoning effort) and otherwise left out."""
    request = {name: value for name, value in body.items() if name not in _EXTENSIONS}
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("effort"), str) and "reasoning_effort" not in body:
        request["reasoning_effort"] = reasoning["effort"]
    request["messages"] = [_plain_message(message) for message in body.get("messages") or []]
    if isinstance(body.get("tools"), list):
        request["tools"] = [_without(tool, "cache_control") for tool in body["tools"]]
    return request


def _plain_message(message: Any) -> Any:
    if not isinstance(message, dict):
        return message
    plain = _without(message, "thinking_blocks", "cache_control")
    if isinstance(plain.get("content"), list):
        plain["content"] = [_without(part, "cache_control") for part in plain["content"]]
    return plain


def _without(value: Any, *names: str) -> Any:
    return {k: v for k, v in value.items() if k not in names} if isinstance(value, dict) else value
