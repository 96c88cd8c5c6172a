"""What an answer is charged, in its endpoint's own units: tokens (chat, embeddings), images, input
characters (speech), seconds of audio (transcription). Each `Charge` becomes the request's
settlement; the reservation already holds at least as much."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from gateway.billing.estimate import covering_tokens
from gateway.canonical import ServerTools, Usage
from gateway.catalog.registry import Pricing


@dataclass(frozen=True)
class Charge:
    cost: int  # micro-credits
    prompt_tokens: int = 0
    completion_tokens: int = 0
    units: dict[str, Any] | None = None  # media billed in their own units: images, characters, audio_seconds
    estimated: bool = False  # the provider reported no usage: an estimate that surely covers it


def for_tokens(
    pricing: Pricing,
    usage: Usage | None,
    *,
    prompt_bound: int,
    produced_bytes: int,
    tools: ServerTools | None = None,
    unseen_tokens: int = 0,
) -> Charge:
    """The usage the upstream reported (tokens, and the tools it ran itself); when it reported none,
    an estimate that surely covers what it billed: the whole prompt bound (images and files included),
    a token per byte it produced, `unseen_tokens` for output it made and did not send, and every tool
    use the request allowed (`tools`)."""
    estimated = usage is None
    if usage is None:
        allowed = tools or ServerTools()
        usage = Usage(
            prompt_tokens=prompt_bound,
            completion_tokens=covering_tokens(produced_bytes) + max(unseen_tokens, 0),
            web_searches=allowed.web_searches,
            web_fetches=allowed.web_fetches,
            grounded=int(allowed.grounded),
        )
    cost = pricing.cost(
        usage.prompt_tokens,
        usage.completion_tokens,
        usage.cached_tokens,
        usage.cache_write_tokens,
        usage.audio_tokens,
        usage.cache_write_1h_tokens,
        fees=pricing.tool_fees(usage.web_searches, usage.web_fetches, usage.grounded),
        cached_audio_tokens=usage.cached_audio_tokens,
    )
    units = _tool_units(usage)
    return Charge(cost, usage.prompt_tokens, usage.completion_tokens, units=units, estimated=estimated)


def _tool_units(usage: Usage) -> dict[str, Any] | None:
    """The server-side tool uses a charge includes, for the trace."""
    units = {"web_searches": usage.web_searches, "web_fetches": usage.web_fetches, "grounded": usage.grounded}
    return {name: count for name, count in units.items() if count} or None


def for_images(pricing: Pricing, size: str, quality: str | None, images: int, prompt_tokens: int = 0) -> Charge:
    """The images made, at the price of their size and quality, with the prompt tokens billed for them
    (nothing for none)."""
    cost = (pricing.image_cost(size, quality, images, prompt_tokens) or 0) if images else 0
    return Charge(
        cost, prompt_tokens=prompt_tokens if images else 0, units={"images": images, "size": size, "quality": quality}
    )


def for_speech(pricing: Pricing, characters: int) -> Charge:
    return Charge(pricing.speech_cost(characters), units={"characters": characters})


def for_transcription(pricing: Pricing, seconds: Decimal, *, estimated: bool) -> Charge:
    """`estimated`: neither the upstream nor the file's header gave the duration (a size bound did)."""
    return Charge(pricing.transcription_cost(seconds), units={"audio_seconds": seconds}, estimated=estimated)
