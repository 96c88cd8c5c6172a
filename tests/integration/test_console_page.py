"""The console's page and assets as the stack serves them: hashed asset names cached for good, the page
revalidated, a strict Content-Security-Policy, and code written so that the policy holds (no inline
script or style, no HTML strings), in both languages."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx
import pytest

from devtools.template import ROOT

STATIC = ROOT / "functions" / "console" / "static"


def directives(policy: str) -> dict[str, list[str]]:
    found = {}
    for part in policy.split(";"):
        name, *values = part.split()
        found[name] = values
    return found


def test_the_page_has_a_strict_policy_and_is_revalidated(gateway_url: str, gateway_env: dict[str, str]) -> None:
    page = httpx.get(f"{gateway_url}/console", timeout=20)

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    policy = directives(page.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["connect-src"] == ["'self'", gateway_env["AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER"]]
    assert policy["frame-ancestors"] == ["'none'"]
    assert policy["base-uri"] == ["'none'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["require-trusted-types-for"] == ["'script'"]
    assert not any("unsafe" in value for values in policy.values() for value in values)
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["referrer-policy"] == "no-referrer"
    unchanged = httpx.get(f"{gateway_url}/console", headers={"If-None-Match": page.headers["etag"]}, timeout=20)
    assert unchanged.status_code == 304
    assert unchanged.content == b""


def test_assets_are_named_by_their_content_and_cached_for_good(gateway_url: str) -> None:
    page = httpx.get(f"{gateway_url}/console", timeout=20).text
    names = re.findall(r'(?:src|href)="(console/assets/[^"]+)"', page)

    assert len(names) == len(list(STATIC.glob("*.js"))) + 2  # every script, the stylesheet, the icon
    for name in names:
        answer = httpx.get(f"{gateway_url}/{name}", timeout=20)
        assert answer.status_code == 200, name
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "content-security-policy" in answer.headers
        stem, digest, suffix = Path(name).name.split(".")
        assert hashlib.sha256(answer.content).hexdigest().startswith(digest), name
        assert answer.content == (STATIC / f"{stem}.{suffix}").read_bytes()
        expected = {"js": "text/javascript", "css": "text/css", "svg": "image/svg+xml"}[suffix]
        assert answer.headers["content-type"].startswith(expected)


@pytest.mark.parametrize(
    "path",
    [
        "console/assets/app.js",
        "console/assets/app.0000000000.js",
        "console/assets/index.html",
        "console/assets/..%2Fapp.py",
    ],
)
def test_only_current_hashed_assets_are_served(gateway_url: str, path: str) -> None:
    answer = httpx.get(f"{gateway_url}/{path}", timeout=20)

    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"


def test_no_inline_code_and_no_html_strings_in_the_sources() -> None:
    """The policy forbids inline scripts and styles and HTML sinks; the sources never need them."""
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []
    assert "<style" not in page
    assert not re.search(r"\sstyle=", page)
    assert not re.search(r"\son[a-z]+=", page)
    sinks = re.compile(
        r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|\beval\(|new Function"
        r"|setAttribute\(\"style|\.style\.|localStorage\.setItem\(\"gw\.session"  # tokens stay in sessionStorage
    )
    for script in STATIC.glob("*.js"):
        assert not sinks.findall(script.read_text(encoding="utf-8")), script.name


def _dictionary(language: str) -> set[str]:
    source = (STATIC / "i18n.js").read_text(encoding="utf-8")
    block = re.search(rf"const {language} = \{{(.*?)\n  \}};", source, re.S)
    assert block, language
    return set(re.findall(r'^\s+"([\w.]+)":', block.group(1), re.M))


def test_every_word_is_in_english_and_in_chinese() -> None:
    english, chinese = _dictionary("en"), _dictionary("zh")

    assert len(english) > 150
    assert english == chinese
    used = set()
    for script in STATIC.glob("*.js"):
        used |= set(re.findall(r'\bt\("([\w.]+)"', script.read_text(encoding="utf-8")))
    assert used - english == set()
