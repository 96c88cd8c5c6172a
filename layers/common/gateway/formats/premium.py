"""Request fields with which a provider bills more than the catalog's prices: Anthropic's fast mode
(`speed`, up to 6x) and US-only inference (`inference_geo`, 1.1x), Gemini's priority tier
(`serviceTier`, up to 2x). The gateway charges the catalog's prices, so a value other than the
standard ones is refused, a 400 naming the field, before anything is held or sent. (OpenAI's
`service_tier` is typed to its standard and cheaper tiers in formats/wire.py.)"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.errors import InvalidRequest

ANTHROPIC = {"speed": ("standard",), "inference_geo": ("global",)}
_GEMINI_TIERS = ("standard", "flex", "SERVICE_TIER_STANDARD", "SERVICE_TIER_FLEX")
GEMINI = {"serviceTier": _GEMINI_TIERS, "service_tier": _GEMINI_TIERS}


def refuse_premium(body: Mapping[str, Any], standard: Mapping[str, tuple[str, ...]], where: str = "") -> None:
    for name, allowed in standard.items():
        value = body.get(name)
        if value is not None and value not in allowed:
            choices = " or ".join(f"`{choice}`" for choice in allowed)
            raise InvalidRequest(
                f"`{where}{name}` other than {choices} is billed by the provider at a premium this gateway "
                "does not price; leave it out.",
                param=f"{where}{name}",
            )
