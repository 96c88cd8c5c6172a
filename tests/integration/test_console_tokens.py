"""ID tokens as the console checks them, signed with the user pool's own key (moto's): only an unexpired
ID token of this pool and app client, RS256, with an identity, opens a session; the key set is read
once, and a forged key id cannot make the function fetch it on every request."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import jwt
import pytest

from gateway.auth import cognito
from gateway.config import get_settings
from gateway.errors import InvalidApiKey, ServiceUnavailable
from tests.support.console import CognitoPool


def moto_signing_key() -> tuple[str, Any]:
    """(kid, private key) of moto's user pools: the key their JWKS publishes."""
    import gzip
    from importlib import resources

    folder = resources.files("moto") / "cognitoidp" / "resources"
    packed = folder / "jwks-private.json.gz"
    raw = gzip.decompress(packed.read_bytes()) if packed.is_file() else (folder / "jwks-private.json").read_bytes()
    private = json.loads(raw)
    return str(private["kid"]), jwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(private))


@pytest.fixture
def pool(cognito: CognitoPool) -> CognitoPool:
    cognito.sign_up()  # the pool exists and has users
    return cognito


def claims(pool: CognitoPool, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    region = pool.user_pool_id.split("_")[0]
    values = {
        "iss": f"https://cognito-idp.{region}.amazonaws.com/{pool.user_pool_id}",
        "aud": pool.client_id,
        "sub": "5f0c9d3e-1111-2222-3333-444455556666",
        "email": "token-test@example.com",
        "token_use": "id",
        "iat": now,
        "exp": now + 600,
    }
    values.update(changes)
    return {name: value for name, value in values.items() if value is not None}


def signed(payload: dict[str, Any], **header: Any) -> str:
    kid, key = moto_signing_key()
    return jwt.encode(payload, key, algorithm="RS256", headers={"kid": kid, **header})


def hmac_token(payload: dict[str, Any], secret: bytes, kid: str) -> str:
    """The algorithm-confusion forgery: HS256 keyed with the pool's public key (PyJWT will not make one)."""
    import base64
    import hashlib
    import hmac

    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = part(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
    body = part(json.dumps(payload).encode())
    signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{part(signature)}"


def test_a_token_signed_by_the_pool_opens_a_session_with_its_groups(pool: CognitoPool) -> None:
    identity = cognito.verify_id_token(signed(claims(pool, **{"cognito:groups": ["operators"]})))

    assert identity.sub == "5f0c9d3e-1111-2222-3333-444455556666"
    assert identity.email == "token-test@example.com"
    assert identity.groups == ("operators",)


@pytest.mark.parametrize(
    ("case", "changes", "code"),
    [
        ("expired", {"exp": int(time.time()) - 3600}, "session_expired"),
        ("another app client", {"aud": "someone-elses-client"}, "invalid_token"),
        ("another pool", {"iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other"}, "invalid_token"),
        ("an access token", {"token_use": "access"}, "invalid_token"),
        ("no subject", {"sub": None}, "invalid_token"),
        ("no e-mail", {"email": None}, "invalid_token"),
        ("no expiry", {"exp": None}, "invalid_token"),
        ("issued in the future", {"iat": int(time.time()) + 3600}, "invalid_token"),
        ("e-mail not verified", {"email_verified": False}, "email_not_verified"),
        ("groups not a list", {"cognito:groups": "operators"}, "invalid_token"),
    ],
)
def test_tokens_the_pool_would_not_issue_for_this_console_are_refused(
    pool: CognitoPool, case: str, changes: dict[str, Any], code: str
) -> None:
    with pytest.raises(InvalidApiKey) as refused:
        cognito.verify_id_token(signed(claims(pool, **changes)))

    assert refused.value.code == code, case
    assert refused.value.status == 401


def test_forged_algorithms_and_keys_are_refused(pool: CognitoPool) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    kid, key = moto_signing_key()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = {
        "alg none": jwt.encode(claims(pool), None, algorithm="none", headers={"kid": kid}),
        "HS256 with the public key": hmac_token(claims(pool), public_pem, kid),
        "another key, the pool's kid": jwt.encode(claims(pool), stranger, algorithm="RS256", headers={"kid": kid}),
        "an unknown kid": jwt.encode(claims(pool), stranger, algorithm="RS256", headers={"kid": "not-the-pools"}),
    }
    for case, token in forged.items():
        with pytest.raises(InvalidApiKey):
            cognito.verify_id_token(token)
        assert case


def test_unknown_key_ids_do_not_refetch_the_key_set_on_every_request(
    pool: CognitoPool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the key set was read once
    cognito.forget_keys()
    good = signed(claims(pool))
    cognito.verify_id_token(good)
    fetches: list[str] = []
    keys = cognito._keys(cognito.pool().jwks_url)
    real = keys.client.fetch_data
    monkeypatch.setattr(keys.client, "fetch_data", lambda: fetches.append("fetch") or real())
    keys.fetched_at = time.monotonic() - cognito.REFETCH_SECONDS  # the last fetch was a while ago

    # When fifty tokens name a key id the pool does not have, and good tokens come in between
    for _ in range(50):
        with pytest.raises(InvalidApiKey):
            cognito.verify_id_token(signed(claims(pool), kid="rotated-maybe"))
        cognito.verify_id_token(good)

    # Then the key set was fetched once more, not fifty times
    assert fetches == ["fetch"]


def test_an_unreachable_key_set_is_a_503_not_a_500(pool: CognitoPool, monkeypatch: pytest.MonkeyPatch) -> None:
    from devtools.dynamodb_local import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", f"http://127.0.0.1:{free_port()}")
    get_settings.cache_clear()
    try:
        with pytest.raises(ServiceUnavailable):
            cognito.verify_id_token(signed(claims(pool)))
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


def test_the_console_answers_the_same_over_http(gateway_url: str, pool: CognitoPool) -> None:
    expired = signed(claims(pool, exp=int(time.time()) - 3600))

    answer = httpx.get(f"{gateway_url}/console/api/me", headers={"Authorization": f"Bearer {expired}"}, timeout=20)

    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "session_expired"
