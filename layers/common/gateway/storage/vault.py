"""Secrets the gateway holds for others: channel keys in Secrets Manager (a name under the stack's
channel prefix), customers' own provider keys encrypted with KMS. Clients are made on first use
(AWS_ENDPOINT_URL_KMS / _SECRETS_MANAGER point them at local stand-ins).

No value read or written here is ever logged, traced or put in an error: failures say what failed,
never with what."""

from __future__ import annotations

import json
import threading
import time
from functools import lru_cache
from typing import Any, Literal

from gateway.storage.dynamo import local_stand_in


class VaultError(Exception):
    """A secret could not be read, written, encrypted or decrypted (the message names no value)."""


@lru_cache(maxsize=1)
def kms() -> Any:
    import boto3

    session = boto3.session.Session()
    return session.client("kms", **local_stand_in(session, "KMS"))


@lru_cache(maxsize=1)
def secrets_manager() -> Any:
    import boto3

    session = boto3.session.Session()
    return session.client("secretsmanager", **local_stand_in(session, "SECRETS_MANAGER"))


def encrypt(key_id: str, plaintext: str, context: dict[str, str]) -> bytes:
    try:
        answer = kms().encrypt(KeyId=key_id, Plaintext=plaintext.encode("utf-8"), EncryptionContext=context)
    except Exception as error:
        raise VaultError(f"KMS could not encrypt ({_code(error)})") from None
    return bytes(answer["CiphertextBlob"])


def decrypt(ciphertext: bytes, context: dict[str, str]) -> str:
    """The plaintext, if `context` is the one it was encrypted under (else VaultError)."""
    try:
        answer = kms().decrypt(CiphertextBlob=ciphertext, EncryptionContext=context)
    except Exception as error:
        raise VaultError(f"KMS could not decrypt ({_code(error)})") from None
    return bytes(answer["Plaintext"]).decode("utf-8")


def put_secret(name: str, value: str, description: str) -> str:
    """Create the secret, or give an existing one a new value; returns its ARN. (A name scheduled for
    deletion takes neither for 7 days: channels name each of theirs anew, services/channel_admin.)"""
    client = secrets_manager()
    try:
        try:
            return str(client.create_secret(Name=name, SecretString=value, Description=description)["ARN"])
        except client.exceptions.ResourceExistsException:
            return str(client.put_secret_value(SecretId=name, SecretString=value)["ARN"])
    except Exception as error:
        raise VaultError(f"Secrets Manager could not store the secret ({_code(error)})") from None


def secret_state(ref: str) -> Literal["live", "missing", "deleted"]:
    """Whether the secret exists and is readable, or is missing, or is scheduled for deletion (its
    metadata only: DescribeSecret, never its value)."""
    client = secrets_manager()
    try:
        answer = client.describe_secret(SecretId=ref)
    except client.exceptions.ResourceNotFoundException:
        return "missing"
    except Exception as error:
        raise VaultError(f"Secrets Manager could not describe the secret ({_code(error)})") from None
    return "deleted" if answer.get("DeletedDate") else "live"


def delete_secret(ref: str) -> None:
    """Schedule a secret's deletion (Secrets Manager keeps it 7 days, restorable)."""
    try:
        secrets_manager().delete_secret(SecretId=ref, RecoveryWindowInDays=7)
    except Exception as error:
        raise VaultError(f"Secrets Manager could not delete the secret ({_code(error)})") from None


def read_secret(ref: str) -> str:
    """A channel's key: the secret's string, or its `api_key` member when it is a JSON object."""
    try:
        text = str(secrets_manager().get_secret_value(SecretId=ref)["SecretString"])
    except Exception as error:
        raise VaultError(f"Secrets Manager could not read the channel's secret ({_code(error)})") from None
    if text.lstrip().startswith("{"):
        try:
            value = json.loads(text).get("api_key")
        except (ValueError, AttributeError):
            value = None
        if not isinstance(value, str) or not value:
            raise VaultError("the channel's secret is a JSON object without a string `api_key`")
        return value
    return text.strip()


class SecretCache:
    """Values by reference for `max_age` seconds, and while their stamp stays the same: a new stamp (a
    channel's new key) reads the secret again, as does age (a rotation made in Secrets Manager)."""

    def __init__(self) -> None:
        self._values: dict[str, tuple[Any, float, str]] = {}
        self._lock = threading.Lock()

    def get(self, ref: str, stamp: Any, max_age: float) -> str:
        with self._lock:
            hit = self._values.get(ref)
        if hit is not None and hit[0] == stamp and hit[1] > time.monotonic():
            return hit[2]
        value = read_secret(ref)
        with self._lock:
            self._values[ref] = (stamp, time.monotonic() + max_age, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


channel_secrets = SecretCache()


def _code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code") or type(error).__name__)
    return type(error).__name__
