"""Key material: shown once, stored only as a SHA-256 hash and a short display prefix."""

from __future__ import annotations

import hashlib
import re

import pytest

from gateway.auth.keys import KEY_PREFIX, display_prefix, generate_key, hash_key, looks_like_key

URL_SAFE = re.compile(r"^[A-Za-z0-9_-]+$")


@pytest.mark.parametrize(("kind", "prefix"), [("inference", "sk-gw-"), ("management", "sk-gwm-")])
def test_a_new_key_says_what_kind_it_is(kind: str, prefix: str) -> None:
    # Given a kind of key, When one is generated
    key = generate_key(kind)
    # Then it starts with that kind's prefix, followed by URL-safe random text
    assert key.startswith(prefix)
    assert URL_SAFE.match(key[len(prefix) :])


def test_inference_and_management_keys_cannot_be_mistaken_for_each_other() -> None:
    inference, management = generate_key("inference"), generate_key("management")
    assert not inference.startswith(KEY_PREFIX["management"])
    assert not management.startswith(KEY_PREFIX["inference"])


@pytest.mark.parametrize("kind", ["inference", "management"])
def test_keys_are_long_and_never_repeat(kind: str) -> None:
    # Given many keys of the same kind
    keys = [generate_key(kind) for _ in range(200)]
    # Then each is long enough to carry >= 256 bits (43 url-safe chars) and no two are equal
    assert all(len(key) >= 40 for key in keys)
    assert all(len(key) - len(KEY_PREFIX[kind]) >= 43 for key in keys)
    assert len(set(keys)) == len(keys)
    # And the random part uses many different characters (not a counter or a constant)
    randoms = "".join(key[len(KEY_PREFIX[kind]) :] for key in keys)
    assert len(set(randoms)) > 50


def test_an_unknown_kind_of_key_is_refused() -> None:
    with pytest.raises(KeyError):
        generate_key("admin")


def test_hash_key_is_the_sha256_hex_digest() -> None:
    key = "sk-gw-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789_-abcd"
    digest = hash_key(key)
    assert digest == hashlib.sha256(key.encode("utf-8")).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", digest)
    # And a one-character difference gives an unrelated hash
    assert hash_key(key[:-1] + "e") != digest


@pytest.mark.parametrize(("kind", "prefix"), [("inference", "sk-gw-"), ("management", "sk-gwm-")])
def test_the_display_prefix_reveals_only_the_kind_and_four_characters(kind: str, prefix: str) -> None:
    # Given a freshly generated key
    key = generate_key(kind)
    # When its display prefix is computed (the only part ever shown again)
    shown = display_prefix(key)
    # Then it is the kind prefix, the next 4 characters, and an ellipsis
    assert shown == key[: len(prefix) + 4] + "..."
    visible = shown.removesuffix("...")
    assert len(visible) == len(prefix) + 4
    # And the rest of the secret does not appear in it
    assert key[len(prefix) + 4 :][:8] not in shown


def test_the_display_prefix_of_a_foreign_key_reveals_only_four_characters() -> None:
    shown = display_prefix("sk-proj-0123456789abcdefghijklmnopqrstuvwxyz")
    assert shown == "sk-p..."


@pytest.mark.parametrize(
    "value",
    [
        "sk-gw-" + "a" * 43,
        "sk-gwm-" + "b" * 43,
        "sk-" + "x" * 17,  # 20 chars: shortest accepted
        "sk-" + "x" * 197,  # 200 chars: longest accepted
    ],
)
def test_plausible_keys_look_like_keys(value: str) -> None:
    assert looks_like_key(value)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Bearer sk-gw-aaaaaaaaaaaaaaaaaaaaaaaa",
        "pk-gw-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "sk-short",
        "sk-" + "x" * 16,  # 19 chars
        "sk-" + "x" * 198,  # 201 chars
        "sk-gw-ключключключключключключ",
    ],
)
def test_implausible_values_do_not_look_like_keys(value: str) -> None:
    # Given something that cannot be one of our keys, Then it is refused before any lookup
    assert not looks_like_key(value)


def test_generated_keys_look_like_keys() -> None:
    assert looks_like_key(generate_key("inference"))
    assert looks_like_key(generate_key("management"))
