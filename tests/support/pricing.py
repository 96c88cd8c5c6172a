"""The test catalog's price, computed independently of the gateway's code."""

from __future__ import annotations

import math
from decimal import Decimal

INPUT, OUTPUT, REQUEST = Decimal("0.5"), Decimal("1.5"), Decimal("0.0001")


def price_micro(prompt_tokens: int, completion_tokens: int) -> int:
    """Micro-credits: credits per 1M tokens equal micro-credits per token; the fee is in credits."""
    return math.ceil(prompt_tokens * INPUT + completion_tokens * OUTPUT + REQUEST * 1_000_000)
