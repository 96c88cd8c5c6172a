"""A real headless browser for end-to-end tests: Debian's chromium driven by its chromedriver through
selenium. Nothing is downloaded: both binaries must be installed (`make install` / `.ci/run` install
them with apt-get when missing)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--force-color-profile=srgb",
)
DESKTOP = (1280, 1000)
PHONE = (390, 844)


class Browser:
    def __init__(self, screenshots: Path) -> None:
        missing = [path for path in (CHROMIUM, CHROMEDRIVER) if not shutil.which(path)]
        assert not missing, f"{missing} not installed: run `make install` (apt-get install chromium chromium-driver)"
        os.environ["SE_OFFLINE"] = "true"  # selenium must not look for (or fetch) a browser or driver itself
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        self.profile = tempfile.mkdtemp(prefix="console-e2e-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={self.profile}", f"--window-size={DESKTOP[0]},{DESKTOP[1]}"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.screenshots = screenshots
        screenshots.mkdir(parents=True, exist_ok=True)

    def quit(self) -> None:
        self.driver.quit()
        shutil.rmtree(self.profile, ignore_errors=True)

    # Finding things

    def wait(self, condition: Any, timeout: float = 15) -> Any:
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout).until(condition)

    def css(self, selector: str, timeout: float = 15) -> Any:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        return self.wait(ec.visibility_of_element_located((By.CSS_SELECTOR, selector)), timeout)

    def all(self, selector: str) -> list[Any]:
        from selenium.webdriver.common.by import By

        return list(self.driver.find_elements(By.CSS_SELECTOR, selector))

    def text_in(self, selector: str, text: str, timeout: float = 15) -> Any:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec

        self.wait(ec.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text), timeout)
        return self.css(selector)

    def button(self, label: str, within: str = "body") -> Any:
        """The visible button (or link styled as one) whose text is `label`."""

        def find(_: Any) -> Any:
            for element in self.all(f"{within} button, {within} a.button"):
                if element.is_displayed() and element.text.strip() == label:
                    return element
            return False

        return self.wait(find)

    def button_shown(self, label: str) -> bool:
        return any(e.is_displayed() and e.text.strip() == label for e in self.all("button"))

    def page(self, title: str) -> None:
        """Wait for the page whose heading is `title` to be rendered (not busy)."""
        self.text_in("main h1", title)
        self.wait(lambda d: d.find_element("css selector", "main").get_attribute("aria-busy") is None)

    def focused(self) -> Any:
        return self.driver.switch_to.active_element

    # Typing

    def fill(self, selector: str, text: str) -> None:
        element = self.css(selector)
        element.clear()
        element.send_keys(text)

    def keys(self, *keys: str) -> None:
        from selenium.webdriver.common.action_chains import ActionChains

        ActionChains(self.driver).send_keys(*keys).perform()

    # Evidence

    def shot(self, name: str) -> Path:
        path = self.screenshots / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    def resize(self, size: tuple[int, int]) -> None:
        self.driver.set_window_size(*size)

    def errors(self) -> list[str]:
        """Console errors since the last call: script errors, CSP violations, failed loads (besides the
        401s the page asks for on purpose)."""
        return [
            entry["message"]
            for entry in self.driver.get_log("browser")
            if entry["level"] == "SEVERE" and "status of 401" not in entry["message"]
        ]
