"""When this invocation must be finished: the Lambda deadline, as the Web Adapter forwards it.

The Lambda Web Adapter passes the invocation context as the `x-amzn-lambda-context` header (JSON,
`deadline` in epoch milliseconds). A request settles its credits before that moment, less a margin
for the settlement itself: a function killed at its timeout settles nothing. A client can add the
header too; only the earliest deadline of all the values is kept, so it can only shorten its own
request. Without the header (the dev server) there is no deadline.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

CONTEXT_HEADER = "x-amzn-lambda-context"
MARGIN_SECONDS = 10.0  # kept back to end the answer and write the settlement


def from_lambda_context(values: Iterable[str], margin: float = MARGIN_SECONDS) -> float | None:
    """The `time.monotonic()` by which the answer must be settled, or None when no value names one."""
    deadlines = [ms for value in values if (ms := _deadline_ms(value)) is not None]
    if not deadlines:
        return None
    remaining = min(deadlines) / 1000 - time.time()
    return time.monotonic() + remaining - margin


def seconds_left(deadline: float | None) -> float | None:
    return None if deadline is None else max(deadline - time.monotonic(), 0.0)


def _deadline_ms(value: str) -> float | None:
    if len(value) > 8192:
        return None
    try:
        context = json.loads(value)
    except (ValueError, RecursionError):  # a client may send its own header
        return None
    deadline = context.get("deadline", context.get("deadline_ms")) if isinstance(context, dict) else None
    if isinstance(deadline, bool) or not isinstance(deadline, int | float) or not 0 < deadline < 10**14:
        return None
    return float(deadline)
