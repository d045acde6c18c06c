"""Launching Debian's chromium through Playwright (no browser download is possible here)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, sync_playwright

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> str:
    """Debian's chromium; the suite needs it (`make test` installs it)."""
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("Debian chromium is not installed: run `make system-deps` (apt-get install chromium)")
    return path


@contextmanager
def chromium(*extra_args: str) -> Iterator[Browser]:
    """A headless chromium for one test."""
    with sync_playwright() as playwright:
        args = CHROMIUM_FLAGS + list(extra_args)
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=args)
        try:
            yield browser
        finally:
            browser.close()
