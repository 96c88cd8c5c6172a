"""Identifiers: time-ordered trace ids and random account ids."""

from __future__ import annotations

import secrets
import time


def new_trace_id() -> str:
    """`gen-` + 12 hex digits of milliseconds + 20 random hex digits: sortable and unguessable."""
    return f"gen-{int(time.time() * 1000):012x}{secrets.token_hex(10)}"


def new_account_id() -> str:
    return f"acct_{secrets.token_hex(8)}"
