"""Static files of a web page served by a function (the console), written into the repository.

Each asset is served under a name holding a hash of its content (`app.3f2a9c1d0b.js`) and cached
for a year as immutable; the page itself names them so, is never cached without revalidation, and
carries a strict Content-Security-Policy: scripts and styles from files of this origin only (no
inline code, no eval), DOM writes only through safe APIs (Trusted Types), connections to this
origin and the sign-in service only, and no framing.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.responses import Response

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
PLACEHOLDER = re.compile(r"\{\{asset:([A-Za-z0-9_.-]+)\}\}")
HASH_CHARS = 10


def security_headers(connect_to: tuple[str, ...] = ()) -> dict[str, str]:
    """Headers of the page and its assets. `connect_to`: origins the page's scripts may call besides
    its own (the sign-in service)."""
    connect = " ".join(("'self'", *connect_to))
    policy = (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; font-src 'self'; "
        f"connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'; "
        "object-src 'none'; require-trusted-types-for 'script'; trusted-types 'none'"
    )
    return {
        "Content-Security-Policy": policy,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
        "Strict-Transport-Security": "max-age=31536000",
    }


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str


class StaticSite:
    """The files of one directory: `index.html` (with `{{asset:NAME}}` placeholders) and its assets."""

    def __init__(self, directory: Path, *, prefix: str = "assets/") -> None:
        self.assets: dict[str, Asset] = {}  # by hashed name
        self.names: dict[str, str] = {}  # plain name -> hashed name
        for path in sorted(directory.iterdir()):
            if path.name == "index.html" or path.suffix not in CONTENT_TYPES or not path.is_file():
                continue
            body = path.read_bytes()
            digest = hashlib.sha256(body).hexdigest()[:HASH_CHARS]
            hashed = f"{path.stem}.{digest}{path.suffix}"
            self.names[path.name] = hashed
            self.assets[hashed] = Asset(body, CONTENT_TYPES[path.suffix])
        template = (directory / "index.html").read_text(encoding="utf-8")
        self.index = PLACEHOLDER.sub(lambda found: prefix + self._hashed(found.group(1)), template).encode()
        self.index_etag = f'"{hashlib.sha256(self.index).hexdigest()[:20]}"'

    def _hashed(self, name: str) -> str:
        if name not in self.names:
            raise FileNotFoundError(f"index.html names an asset that is not there: {name}")
        return self.names[name]

    def page(self, headers: dict[str, str], if_none_match: str | None) -> Response:
        """index.html: revalidated on every load (a 304 when unchanged), so a deploy shows at once."""
        common = {**headers, "Cache-Control": REVALIDATE, "ETag": self.index_etag}
        if if_none_match and self.index_etag in {tag.strip() for tag in if_none_match.split(",")}:
            return Response(status_code=304, headers=common)
        return Response(self.index, media_type=CONTENT_TYPES[".html"], headers=common)

    def asset(self, hashed_name: str, headers: dict[str, str]) -> Response | None:
        """An asset by its hashed name, cached for good; None for any other name."""
        found = self.assets.get(hashed_name)
        if found is None:
            return None
        return Response(found.body, media_type=found.content_type, headers={**headers, "Cache-Control": IMMUTABLE})
