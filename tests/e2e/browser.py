"""A real browser for the tests: Debian's Chromium, driven by Selenium through the
chromedriver of the same package (ADR 22). Nothing is downloaded: both binaries come
from the system (``make test`` and ``.ci/run`` install them when missing).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--window-size=1280,1000")


def require_browser() -> None:
    """Skip without Chromium (fail instead in CI, where ``.ci/run`` installs it)."""
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    message = (f"{CHROMIUM} or {CHROMEDRIVER} is missing: `make test` installs them "
               "(apt-get install chromium chromium-driver)")
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@dataclass
class Visit:
    """What the browser saw of one page."""

    console: list[dict[str, Any]]
    requests: list[str]
    resources: list[str]


class Browser:
    """One headless Chromium with a fresh profile, logging console and network."""

    def __init__(self, profile: Path) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)

    def open(self, page: Path) -> Visit:
        """Load ``page`` (a file) and return its console messages and every request
        the page made (from the DevTools network events)."""
        driver = self.driver
        # A blank page first, so the start page's own loads are drained before ours.
        driver.get("about:blank")
        driver.get_log("performance")
        driver.get_log("browser")
        driver.get(page.resolve().as_uri())
        driver.execute_script("return document.readyState")
        requests = []
        for entry in driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message["method"] in ("Network.requestWillBeSent",
                                     "Network.webSocketCreated"):
                params = message["params"]
                requests.append(params.get("request", {}).get("url") or params.get("url"))
        resources = driver.execute_script(
            "return performance.getEntriesByType('resource').map(e => e.name)")
        return Visit(driver.get_log("browser"), requests, resources)

    def screenshot(self, path: Path) -> Path:
        """The whole page as a PNG (the window stretched to the page's height)."""
        height = self.driver.execute_script("return document.documentElement.scrollHeight")
        self.driver.set_window_size(1280, min(int(height) + 40, 30000))
        self.driver.save_screenshot(str(path))
        self.driver.set_window_size(1280, 1000)
        return path

    def quit(self) -> None:
        self.driver.quit()
