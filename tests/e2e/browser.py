"""Launching Debian's chromium through Playwright (no browser download is possible here)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

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


def watch_policy(browser: Browser, refusals: list[str]) -> None:
    """Collect, from every page and frame of every context `browser` opens, what a CSP refused (chromium logs it)."""

    def watch(context: BrowserContext) -> None:
        context.on("console", lambda m: refusals.append(m.text) if "Content Security Policy" in m.text else None)

    plain_context, plain_page = browser.new_context, browser.new_page

    def new_context(**options: Any) -> BrowserContext:
        context = plain_context(**options)
        watch(context)
        return context

    def new_page(**options: Any) -> Page:
        page = plain_page(**options)
        watch(page.context)
        return page

    browser.new_context, browser.new_page = new_context, new_page  # type: ignore[method-assign]


@contextmanager
def chromium(*extra_args: str, csp_refusals: list[str] | None = None) -> Iterator[Browser]:
    """A headless chromium for one test, which fails when a Content-Security-Policy refused anything.

    A test that provokes refusals on purpose passes a list as `csp_refusals` and checks it itself.
    """
    refusals: list[str] = [] if csp_refusals is None else csp_refusals
    with sync_playwright() as playwright:
        args = CHROMIUM_FLAGS + list(extra_args)
        browser = playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=args)
        watch_policy(browser, refusals)
        try:
            yield browser
        finally:
            browser.close()
    if csp_refusals is None:
        assert not refusals, f"the page's Content-Security-Policy refused: {refusals}"


def click_settled(page: Page, selector: str) -> None:
    """Scroll to `selector`, let the page draw once, then click it.

    Chromium runs a static scene's page (a sandboxed frame) in a process of its own and routes a click by
    the layout last drawn: a click Playwright sends right after its own scroll can land in that frame.
    """
    target = page.locator(selector)
    target.scroll_into_view_if_needed()
    page.evaluate("() => new Promise((drawn) => requestAnimationFrame(() => requestAnimationFrame(drawn)))")
    target.click()
