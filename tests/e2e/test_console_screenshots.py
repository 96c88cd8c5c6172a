"""Every page of the console was photographed by the browser tests before this one (`make screenshots`
keeps them in docs/console/, which the README links)."""

from __future__ import annotations

from pathlib import Path

from tests.support.browser import Browser


def test_screenshots_of_every_page_were_taken(browser: Browser) -> None:
    names = {path.stem for path in Path(browser.screenshots).glob("*.png")}

    assert {
        "sign-in", "confirm", "overview", "key-create", "key-created", "keys", "usage", "traces", "trace",
        "quickstart", "usage-zh-dark", "overview-phone-zh-dark", "admin-accounts", "admin-account",
        "admin-platform", "admin-log", "admin-codes-minted", "admin-codes", "admin-model-error", "admin-model",
        "admin-channel", "admin-channels", "admin-groups", "admin-log-control", "admin-channels-zh-dark",
        "admin-model-phone-zh-dark", "overview-redeemed", "overview-redeem-error", "trace-fallback", "admin-models",
        "admin-codes-phone-zh-dark", "password-reset", "usage-chart-phone",
    } <= names  # fmt: skip
