"""Scripted upstream behaviours, shared by the fake OpenAI, Anthropic and Gemini upstreams.

A test registers a Behaviour (`SCRIPT.plan(...)` returns a marker), puts `[[script:<marker>]]` in the
prompt, and whichever fake receives the request plays the behaviour in its own wire format: usage
reported exactly, above (hidden reasoning), below or not at all; a stream cut, an error event, a stall
after some output; no answer at all until released; an error status. The fake records what it
produced (`Produced`), so the test can match the request to the ledger.

A fake honours the output cap it received as a real provider does: it never writes or reports more
output per candidate than the largest positive integer among the cap fields it was sent (an upstream
that honours the larger of `max_tokens` and `max_completion_tokens` is the adversarial one), and
without a valid cap at most NATURAL_MAX tokens.
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

MARKER = re.compile(r"\[\[script:([0-9a-f]{16})\]\]")
TOKEN = re.compile(rb"qz\d{4}")  # one visible output token on the wire, in any format
NATURAL_MAX = 8192  # what an uncapped fake model may write per candidate
MAX_CANDIDATES = 8

Ending = Literal["complete", "cut", "error_event", "stall", "timeout", "status", "client_gone"]
UsageMode = Literal["exact", "above", "below", "missing"]


@dataclass(frozen=True)
class Behaviour:
    tokens: int = 3  # visible output tokens per candidate
    usage: UsageMode = "exact"
    skew: int = 0  # tokens reported above (hidden reasoning) or below the visible output
    ending: Ending = "complete"
    after: int = 0  # visible tokens per candidate written before a cut, error event, stall or client_gone
    status: int = 500  # ending "status": 429, 500, 503 ... with the provider's error body
    # A hostile upstream: the usage object written on the wire verbatim, in the provider's own shape
    # (OpenAI `usage`, Anthropic `usage`, Gemini `usageMetadata`), instead of the one `usage` describes.
    wire_usage: tuple[tuple[str, Any], ...] | None = None

    def wire(self) -> dict[str, Any] | None:
        return None if self.wire_usage is None else dict(self.wire_usage)


@dataclass
class Produced:
    """What one fake did with one scripted request."""

    provider: str
    body: dict[str, Any]  # as received
    prompt_tokens: int  # words of the request's texts: the fake's own count
    caps: dict[str, Any]  # the output-cap fields as received (fields not sent are absent)
    asked: int  # candidates asked for (n, candidateCount) when a positive integer, else 1
    candidates: int  # candidates it writes: `asked`, at most MAX_CANDIDATES
    limit: int  # visible + hidden output per candidate it allows itself
    sent: int = 0  # visible output tokens written to the wire, all candidates
    reported: tuple[int, int] | None = None  # final usage written (prompt, completion), all candidates
    finished: bool = False  # the whole answer was written, up to its last event
    status: int = 200

    def word(self, index: int) -> str:
        return f"qz{index % 10_000:04d}"

    def visible(self, behaviour: Behaviour) -> int:
        """Visible tokens per candidate."""
        return min(behaviour.tokens, self.limit)

    def completion(self, behaviour: Behaviour) -> int | None:
        """Output tokens per candidate the usage reports (None: no usage)."""
        visible = self.visible(behaviour)
        if behaviour.usage == "missing":
            return None
        if behaviour.usage == "above":
            return min(self.limit, visible + behaviour.skew)
        if behaviour.usage == "below":
            return max(0, visible - behaviour.skew)
        return visible


class Script:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.behaviours: dict[str, Behaviour] = {}
        self.produced: dict[str, list[Produced]] = defaultdict(list)
        self.released: dict[str, threading.Event] = {}

    def plan(self, behaviour: Behaviour) -> str:
        marker = secrets.token_hex(8)
        with self.lock:
            self.behaviours[marker] = behaviour
            self.released[marker] = threading.Event()
        return marker

    def find(self, body: Any) -> tuple[str, Behaviour] | None:
        found = MARKER.search(json.dumps(body, ensure_ascii=False))
        if found is None:
            return None
        with self.lock:
            behaviour = self.behaviours.get(found.group(1))
        return (found.group(1), behaviour) if behaviour is not None else None

    def start(self, marker: str, provider: str, body: dict[str, Any], caps: dict[str, Any], count: Any) -> Produced:
        valid = [value for value in caps.values() if _positive_int(value)]
        asked = count if _positive_int(count) else 1
        produced = Produced(
            provider=provider,
            body=body,
            prompt_tokens=len(" ".join(_texts(body)).split()),
            caps=caps,
            asked=asked,
            candidates=min(asked, MAX_CANDIDATES),
            limit=min(max(valid), NATURAL_MAX) if valid else NATURAL_MAX,
        )
        with self.lock:
            self.produced[marker].append(produced)
        return produced

    def records(self, marker: str) -> list[Produced]:
        with self.lock:
            return list(self.produced.get(marker, []))

    async def held(self, marker: str) -> None:
        """Waits (without blocking the fake's event loop) until the test releases this marker."""
        event = self.released[marker]
        await asyncio.to_thread(event.wait, 60)

    def release(self, marker: str) -> None:
        with self.lock:
            event = self.released.get(marker)
        if event is not None:
            event.set()

    def forget(self, marker: str) -> None:
        with self.lock:
            self.behaviours.pop(marker, None)
            self.produced.pop(marker, None)
            self.released.pop(marker, None)


def _positive_int(value: Any) -> bool:
    return type(value) is int and value > 0


def _texts(value: Any) -> list[str]:
    """Every prompt text of a request body (OpenAI, Anthropic or Gemini), at any depth."""
    if isinstance(value, dict):
        found: list[str] = []
        for name, inner in value.items():
            if name in ("text", "content", "system") and isinstance(inner, str):
                found.append(inner)
            elif name in ("messages", "contents", "content", "parts", "system", "systemInstruction"):
                found.extend(_texts(inner))
        return found
    if isinstance(value, list):
        return [text for item in value for text in _texts(item)]
    return []


SCRIPT = Script()


@dataclass
class Plan:
    """One scripted answer, as the fakes lay it out: `rounds` of one token per candidate."""

    produced: Produced
    behaviour: Behaviour
    rounds: int = field(init=False)
    stop_at: int | None = field(init=False)  # the round before which the ending strikes (None: never)

    def __post_init__(self) -> None:
        self.rounds = self.produced.visible(self.behaviour)
        interrupted = self.behaviour.ending in ("cut", "error_event", "stall", "client_gone")
        self.stop_at = min(self.behaviour.after, self.rounds) if interrupted else None

    def usage(self) -> tuple[int, int] | None:
        """(prompt, completion over all candidates), or None when no usage is reported."""
        per_candidate = self.produced.completion(self.behaviour)
        if per_candidate is None:
            return None
        return self.produced.prompt_tokens, per_candidate * self.produced.candidates

    def hidden(self) -> int:
        """Reported output beyond the visible text, all candidates (reasoning the client never sees)."""
        usage = self.usage()
        return max(0, usage[1] - self.rounds * self.produced.candidates) if usage else 0

    def sent_round(self) -> None:
        self.produced.sent += self.produced.candidates

    def finish(self, usage: tuple[int, int] | None) -> None:
        """Called just before the last event (or the whole answer) is written: recorded before the
        gateway can read it, so the record is complete by the time the gateway has settled."""
        self.produced.reported, self.produced.finished = usage, True
