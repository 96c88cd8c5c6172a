"""Seal a secret for later replay to the same caller only: AES-GCM under a key derived (HKDF-SHA256)
from the caller's own API key, which the gateway never stores. A stored seal is useless without it."""

from __future__ import annotations

import base64
import os


def seal(secret: str, caller_key: str, context: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    sealed = AESGCM(_derive(caller_key, context)).encrypt(nonce, secret.encode("utf-8"), context.encode("utf-8"))
    return base64.urlsafe_b64encode(nonce + sealed).decode("ascii")


def unseal(sealed: str, caller_key: str, context: str) -> str:
    """Raises ValueError when the seal was not made for this caller and context."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
    try:
        opened = AESGCM(_derive(caller_key, context)).decrypt(raw[:12], raw[12:], context.encode("utf-8"))
    except InvalidTag as error:
        raise ValueError("not sealed for this caller") from error
    return opened.decode("utf-8")


def _derive(caller_key: str, context: str) -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=context.encode("utf-8"), info=b"ai-gateway idempotent replay"
    ).derive(caller_key.encode("utf-8"))
