"""The Bedrock golden files (tests/golden/bedrock), with {"$base64": ...} markers read as bytes."""

from __future__ import annotations

import base64
import json
from functools import cache
from pathlib import Path
from typing import Any

GOLDEN = Path(__file__).resolve().parents[3] / "golden" / "bedrock"


@cache
def _load(name: str) -> Any:
    return json.loads((GOLDEN / name).read_text(encoding="utf-8"))


def golden(name: str) -> Any:
    """The file as JSON: binary values still written {"$base64": ...} (their wire form)."""
    return json.loads(json.dumps(_load(name)))  # a fresh copy each time


def with_bytes(value: Any) -> Any:
    """The value as boto3 has it: every {"$base64": text} becomes the decoded bytes."""
    if isinstance(value, dict):
        if set(value) == {"$base64"}:
            return base64.b64decode(value["$base64"])
        return {key: with_bytes(item) for key, item in value.items()}
    if isinstance(value, list):
        return [with_bytes(item) for item in value]
    return value


def on_the_wire(value: Any) -> Any:
    """The value as Bedrock's JSON carries it: every {"$base64": text} becomes the base64 text."""
    if isinstance(value, dict):
        if set(value) == {"$base64"}:
            return value["$base64"]
        return {key: on_the_wire(item) for key, item in value.items()}
    if isinstance(value, list):
        return [on_the_wire(item) for item in value]
    return value


def case_ids(cases: list[dict[str, Any]]) -> list[str]:
    return [case.get("name") or case.get("code") or case["event"] for case in cases]
