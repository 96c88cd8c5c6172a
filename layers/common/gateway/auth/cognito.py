"""Console sessions: a Cognito ID token, verified against its user pool's published keys (JWKS).

Only ID tokens of the configured pool and app client are accepted (RS256, issuer, audience,
`token_use`, expiry). The key set is fetched once and cached; a token naming an unknown key makes it
fetched again at most once a minute, so forged tokens cannot turn into a request each to Cognito.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from gateway.config import get_settings
from gateway.errors import InvalidApiKey, ServiceUnavailable
from gateway.storage.endpoints import configured_endpoint

if TYPE_CHECKING:
    from jwt import PyJWK, PyJWKClient

MAX_TOKEN_CHARS = 8_192
LEEWAY_SECONDS = 30  # clock skew between Cognito and the function
REFETCH_SECONDS = 60.0  # the least time between two fetches of the key set for unknown key ids
ENDPOINT_SERVICE = "COGNITO_IDENTITY_PROVIDER"  # AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER, as boto3 reads it


@dataclass(frozen=True)
class Identity:
    """The signed-in user, as the token says."""

    sub: str
    email: str
    groups: tuple[str, ...]


@dataclass(frozen=True)
class Pool:
    user_pool_id: str
    client_id: str
    region: str
    endpoint: str  # where the browser and the key set are reached: Cognito's, or a stand-in's

    @property
    def issuer(self) -> str:
        """The `iss` of the pool's tokens (the same for a stand-in such as moto)."""
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    @property
    def jwks_url(self) -> str:
        return f"{self.endpoint}/{self.user_pool_id}/.well-known/jwks.json"


def pool() -> Pool:
    settings = get_settings()
    if not settings.cognito_user_pool_id or not settings.cognito_client_id:
        raise ServiceUnavailable("The console has no Cognito user pool configured.")
    region = settings.cognito_user_pool_id.rsplit("_", 1)[0]
    endpoint = configured_endpoint(ENDPOINT_SERVICE) or f"https://cognito-idp.{region}.amazonaws.com"
    return Pool(settings.cognito_user_pool_id, settings.cognito_client_id, region, endpoint.rstrip("/"))


def verify_id_token(token: str | None) -> Identity:
    """The identity an ID token of the pool vouches for; 401 for anything else, never the token echoed."""
    import jwt

    if not token:
        raise InvalidApiKey("Sign in first: send the ID token as `Authorization: Bearer <token>`.")
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise _invalid()
    where = pool()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError:
        raise _invalid() from None
    kid = header.get("kid")
    if not isinstance(kid, str) or header.get("alg") != "RS256":
        raise _invalid()
    key = _keys(where.jwks_url).find(kid)
    if key is None:
        raise _invalid()
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            audience=where.client_id,
            issuer=where.issuer,
            leeway=LEEWAY_SECONDS,
            options={"require": ["exp", "iat", "iss", "aud", "sub", "token_use"]},
        )
    except jwt.ExpiredSignatureError:
        raise InvalidApiKey("Your session has expired; sign in again.", code="session_expired") from None
    except jwt.InvalidTokenError:
        raise _invalid() from None
    return _identity(claims)


def _identity(claims: dict[str, Any]) -> Identity:
    sub, email, groups = claims.get("sub"), claims.get("email"), claims.get("cognito:groups") or []
    if claims.get("token_use") != "id" or not isinstance(sub, str) or not sub or not isinstance(email, str):
        raise _invalid()
    if claims.get("email_verified") in (False, "false"):
        raise InvalidApiKey("Confirm your e-mail address first.", code="email_not_verified")
    if not isinstance(groups, list) or not all(isinstance(group, str) for group in groups):
        raise _invalid()
    return Identity(sub=sub, email=email, groups=tuple(groups))


def _invalid() -> InvalidApiKey:
    return InvalidApiKey("Invalid session token; sign in again.", code="invalid_token")


class _KeySet:
    """The pool's signing keys, fetched on first use; fetched again for an unknown key id at most once
    per REFETCH_SECONDS (Cognito rotates keys rarely; a forged key id must not cost a fetch each)."""

    def __init__(self, url: str) -> None:
        from jwt import PyJWKClient

        self.client: PyJWKClient = PyJWKClient(url, cache_jwk_set=True, lifespan=3_600, timeout=5)
        self.lock = threading.Lock()
        self.fetched_at = float("-inf")

    def find(self, kid: str) -> PyJWK | None:
        from jwt import PyJWKClientError, PyJWKError

        try:
            with self.lock:
                found = self._lookup(kid, refresh=False)
                if found is None and time.monotonic() - self.fetched_at >= REFETCH_SECONDS:
                    found = self._lookup(kid, refresh=True)
        except (PyJWKClientError, PyJWKError):  # unreachable, or no usable key set: not the caller's fault
            raise ServiceUnavailable("The sign-in service's keys cannot be read; retry shortly.") from None
        return found

    def _lookup(self, kid: str, *, refresh: bool) -> PyJWK | None:
        if refresh or self.fetched_at == float("-inf"):
            self.fetched_at = time.monotonic()
            refresh = True
        return next((key for key in self.client.get_signing_keys(refresh=refresh) if key.key_id == kid), None)


@lru_cache(maxsize=4)
def _keys(url: str) -> _KeySet:
    return _KeySet(url)


def forget_keys() -> None:
    """Tests: a new pool (a new stand-in) must not be checked against an old one's keys."""
    _keys.cache_clear()
