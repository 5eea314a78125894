"""Headless Chromium from the system's packages (Debian ``chromium``), driven by Playwright.

No browser is downloaded at run time: Playwright launches ``/usr/bin/chromium`` (the set-up
installs it where it can). Where there is none, browser tests skip with the reason — except in CI,
where a missing browser is a failure.
"""

import contextlib
import os
import shutil

import pytest

# Chromium's own calls home fail on an offline machine, many at a time: switch them off.
QUIET_CHROMIUM = [
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        reason = "no system Chromium: install Debian's `chromium` package (make setup does it where it can)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    return path


@contextlib.contextmanager
def browser_page(width: int = 1400, height: int = 900):
    """A fresh page of a headless system Chromium, closed afterwards."""
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    sandbox = ["--no-sandbox"] if os.geteuid() == 0 else []  # Chromium refuses its sandbox as root
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=[*QUIET_CHROMIUM, *sandbox])
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()
