"""Key material. A key is shown once; only its SHA-256 and a display prefix are kept."""

from __future__ import annotations

import hashlib
import secrets

KEY_PREFIX = {"inference": "sk-gw-", "management": "sk-gwm-", "operator": "sk-gwo-"}
DISPLAY_CHARS = 4  # random characters kept after the kind prefix, for people to tell keys apart


def generate_key(kind: str) -> str:
    """`sk-gw-` (inference), `sk-gwm-` (management) or `sk-gwo-` (operator) + 256 random bits, URL-safe."""
    return KEY_PREFIX[kind] + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def display_prefix(key: str) -> str:
    kind_prefix = next((p for p in sorted(KEY_PREFIX.values(), key=len, reverse=True) if key.startswith(p)), "")
    return key[: len(kind_prefix) + DISPLAY_CHARS] + "..."


def looks_like_key(value: str) -> bool:
    return value.startswith("sk-") and 20 <= len(value) <= 200 and value.isascii()


def looks_like_hash(value: str) -> bool:
    """A key's id in the API: its SHA-256, 64 lowercase hex digits."""
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)
