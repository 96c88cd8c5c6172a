"""Two operators at once: a form saved in the console sends only what its operator changed since it
was loaded, so another operator's change to a field it did not touch meanwhile stays (a model's price,
a channel's weight), rather than being put back to what the form had shown."""

from __future__ import annotations

import secrets
from urllib.parse import quote

from tests.integration.test_runtime_catalog import model_spec
from tests.support.browser import Browser
from tests.support.console import CognitoPool, ConsoleApi
from tests.support.control import unique


def test_a_save_keeps_what_another_operator_changed_meanwhile(
    browser: Browser, gateway_url: str, cognito: CognitoPool
) -> None:
    first = f"ops-{secrets.token_hex(4)}@example.com"
    cognito.sign_up(first, operator=True)
    other = ConsoleApi(gateway_url, cognito.sign_up(f"ops-{secrets.token_hex(4)}@example.com", operator=True))
    model_id, channel_id = unique("e2e/two"), unique("two")
    other.ok(other.post("/admin/models", model_spec(model_id), headers={"Idempotency-Key": unique("k")}), 201)
    other.ok(other.post("/admin/channels", {"id": channel_id, "provider": "fake", "models": [model_id], "weight": 1},
                        headers={"Idempotency-Key": unique("k")}), 201)  # fmt: skip
    browser.driver.get(f"{gateway_url}/console")
    browser.page("Sign in")
    browser.sign_in(first)
    try:
        # Given the first operator has the model's form open
        browser.driver.get(f"{gateway_url}/console#/admin/models/{quote(model_id, safe='')}")
        browser.page(model_id)
        # When the other reprices it meanwhile, and the first renames it and saves
        other.ok(other.patch(f"/admin/models/{quote(model_id, safe='')}", {"pricing": {"input": "7"}},
                             headers={"Idempotency-Key": unique("k")}))  # fmt: skip
        browser.fill("#model-display-name", "Renamed")
        browser.css("#save-model").click()
        browser.css("#model-saved")
        # Then both changes stand
        spec = other.ok(other.get(f"/admin/models/{quote(model_id, safe='')}"))["data"]
        assert (spec["display_name"], spec["pricing"]["input"], spec["pricing"]["output"]) == ("Renamed", "7", "2")

        # And so for a channel: the other changes its weight while the first edits its note
        browser.driver.get(f"{gateway_url}/console#/admin/channels/{channel_id}")
        browser.page(channel_id)
        other.ok(other.patch(f"/admin/channels/{channel_id}", {"weight": 5}, headers={"Idempotency-Key": unique("k")}))
        browser.fill("input[name=note]", "backup")
        browser.css("#save-channel").click()
        browser.css("#channel-saved")
        channel = next(c for c in other.ok(other.get("/admin/channels"))["data"] if c["id"] == channel_id)
        assert (channel["note"], channel["weight"], channel["models"]) == ("backup", 5, [model_id])
    finally:
        other.delete(f"/admin/channels/{channel_id}")
        other.delete(f"/admin/models/{quote(model_id, safe='')}")
        browser.sign_out()
