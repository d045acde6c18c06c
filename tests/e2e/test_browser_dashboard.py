"""The researcher dashboard in chromium: scoped sign-in, 10,000 participants, a live bot run, pause, ending a session.

Screenshots go to `test-artifacts/` (ignored by git). The two-second bound on the first page of
10,000 participants is the issue's acceptance criterion, kept as a test on purpose; the figure
itself is measured in `benchmarks/dashboard.py`.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from browser import chromium, click_settled
from conftest import ROOT, Platform, quick_manifest
from playwright.sync_api import Page

from gymkube.bot import ParticipantBot
from gymkube.storage.backends import LocalStorage

SECRET = "a-long-admin-secret-for-tests"
SEEDED = 10_000
ARTIFACTS = ROOT / "test-artifacts"

import sys  # noqa: E402 - the seeding helper lives beside the platform tests

sys.path.insert(0, str(ROOT / "tests" / "platform"))
from dashboard_seed import seed_participants  # noqa: E402


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    """cartpole with 10,000 participants already in its data, and forage-ai; the admin secret is known."""
    folder = tmp_path_factory.mktemp("dashboard")
    seed_participants(LocalStorage(folder / "data" / "storage"), "cartpole", SEEDED)
    manifests = [quick_manifest(folder, "cartpole.yaml", episodes=3), quick_manifest(folder, "forage_ai.yaml")]
    started = Platform(manifests, folder / "data", {"GYMKUBE_ADMIN_SECRET": SECRET})
    try:
        admin = httpx.Client(base_url=started.base, timeout=15)
        assert admin.post("/admin/login", data={"secret": SECRET}).status_code == 303
        deadline = time.monotonic() + 60
        while admin.get("/admin/api/experiments/cartpole/live").json()["funnel"]["entered"] < SEEDED:
            assert time.monotonic() < deadline, "the dashboard did not index the seeded participants"
            time.sleep(0.5)
        yield started
    finally:
        started.stop()


def sign_in(page: Page, platform: Platform, secret: str, experiment: str = "cartpole") -> None:
    page.goto(f"{platform.base}/admin")
    page.fill("input[name=secret]", secret)
    page.click("main.login button")
    page.wait_for_selector("#funnel .funnel-row")
    if experiment != page.text_content("#name"):
        page.click(f"nav a[href='#experiment={experiment}']")
        page.wait_for_function(f"() => document.getElementById('name').textContent === '{experiment}'")


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def card(page: Page, label: str) -> int:
    """The number on a counter card."""
    value = page.locator(".card", has_text=label).locator(".value").text_content() or "0"
    return int(value.replace(",", "").replace(" ", "").replace("\u202f", "") or 0)


def test_a_scoped_token_sees_only_its_experiments(platform: Platform):
    token = platform.token("carol", "forage-ai")
    with chromium() as browser:
        page = browser.new_page(locale="en-US", viewport={"width": 1400, "height": 1000})
        sign_in(page, platform, token, "forage-ai")
        assert page.locator("nav a").all_text_contents() == ["forage-aiRunning"]
        assert page.text_content("#viewer") == "researcher carol"
        shot(page, "scoped")
        reply = page.request.get(f"{platform.base}/admin/api/experiments/cartpole/live")
        assert reply.status == 404


def test_ten_thousand_participants_page_fast_and_search_finds_one(platform: Platform):
    with chromium() as browser:
        page = browser.new_page(locale="en-US", viewport={"width": 1400, "height": 1400})
        sign_in(page, platform, SECRET)
        page.reload()  # signed in: time the whole page, from navigation to the table's first page
        page.wait_for_selector("#participants tbody tr")
        shown_ms = page.evaluate("performance.now()")
        assert page.locator("#participants tbody tr").count() == 50
        assert page.text_content("#total") == f"({SEEDED:,} match)"
        assert shown_ms < 2000, f"the first page of {SEEDED} participants took {shown_ms:.0f} ms"
        page.fill("#search", "seed-004321")
        page.wait_for_function("() => document.querySelectorAll('#participants tbody tr').length === 1")
        assert page.text_content("#participants tbody tr td a") == "seed-004321"
        page.fill("#search", "")
        page.select_option("#state", "completed")
        rows = "[...document.querySelectorAll('#participants tbody tr')]"
        page.wait_for_function(f"() => {rows}.every(row => row.className === 'state-completed')")
        first = page.text_content("#participants tbody tr td a")
        page.click("#next")
        page.wait_for_function(f"() => document.querySelector('#participants tbody tr td a').textContent !== '{first}'")
        shot(page, "ten-thousand")


def run_bots(platform: Platform, prefix: str, count: int, stop_at: str | None = None, linger_s: float = 0) -> None:
    """Bots play cartpole to the end; or, with `stop_at`, stay on that scene (here, connected) for `linger_s`."""
    bots = [ParticipantBot(platform.entry("cartpole", PROLIFIC_PID=f"{prefix}{i}"), seed=i, stop_at=stop_at)
            for i in range(count)]  # fmt: skip

    async def play(bot: ParticipantBot) -> None:
        await bot.enter()
        await bot.connect()
        await asyncio.wait_for(bot.done.wait(), 120)
        await asyncio.sleep(linger_s)
        await bot.disconnect()

    async def play_all() -> None:
        await asyncio.gather(*(play(bot) for bot in bots))

    asyncio.run(play_all())


def test_a_bot_run_shows_live_and_pause_stops_new_entries(platform: Platform):
    with chromium() as browser:
        page = browser.new_page(locale="en-US", viewport={"width": 1400, "height": 2000})
        sign_in(page, platform, SECRET)
        completed = card(page, "completed")
        entered = card(page, "entered")
        worker = threading.Thread(target=run_bots, args=(platform, "live", 4))
        readers = threading.Thread(target=run_bots, args=(platform, "reader", 3, "questionnaire", 12.0))
        readers.start()
        worker.start()
        page.wait_for_selector("#participants tbody a:text-is('live0')", timeout=30_000)  # newest first, no reload
        page.wait_for_function("() => Number(document.querySelector('.card .value').textContent) >= 3")  # here now
        shot(page, "live")
        page.set_viewport_size({"width": 1280, "height": 1300})  # docs/images/dashboard.png
        page.screenshot(path=str(ARTIFACTS / "dashboard-readme.png"))
        page.set_viewport_size({"width": 1400, "height": 2000})
        worker.join(120)
        readers.join(120)
        deadline = time.monotonic() + 20
        while card(page, "completed") < completed + 4:  # no reload: the page polls
            assert time.monotonic() < deadline, "the completed participants did not show"
            page.wait_for_timeout(500)
        assert card(page, "entered") == entered + 4 + 3
        funnel = page.locator("#funnel .funnel-row", has_text="completed").locator(".count").text_content()
        assert int((funnel or "0").replace(",", "").replace("\u202f", "")) == card(page, "completed")
        page.wait_for_selector(".chart svg rect.bar")  # the plots drew the run

        page.click("#pause")
        page.wait_for_function("() => document.getElementById('pause').textContent.startsWith('Resume')")
        paused = httpx.get(platform.entry("cartpole", PROLIFIC_PID="after-pause"))
        assert paused.status_code == 503 and "paused" in paused.text
        assert "PAUSED" in (page.text_content("#freshness") or "")
        shot(page, "paused")
        page.click("#pause")
        page.wait_for_function("() => document.getElementById('pause').textContent.startsWith('Pause')")
        assert httpx.get(platform.entry("cartpole", PROLIFIC_PID="after-resume")).status_code in (200, 303)


def test_ending_a_session_from_the_dashboard_sends_the_participant_to_the_ending(platform: Platform):
    with chromium() as browser:
        participant = browser.new_page()
        participant.goto(platform.entry("forage-ai", PROLIFIC_PID="helpme"))
        for scene_id in ("consent", "instructions"):
            participant.wait_for_selector(f"#scene[data-scene-id='{scene_id}']")
            click_settled(participant, "#continue")
        participant.wait_for_selector("#scene[data-game-status='playing']", timeout=15_000)

        researcher = browser.new_page(locale="en-US", viewport={"width": 1400, "height": 1400})
        researcher.on("dialog", lambda dialog: dialog.accept())
        sign_in(researcher, platform, SECRET, "forage-ai")
        researcher.fill("#search", "helpme")
        researcher.wait_for_selector("#participants tbody tr td a:text-is('helpme')")
        researcher.click("#participants tbody tr td a")
        researcher.wait_for_selector("dialog .end select")
        researcher.select_option("dialog .end select", "technical")
        shot(researcher, "timeline")
        researcher.click("dialog .end button")
        researcher.wait_for_selector("dialog .end p:has-text('Ended')")
        code = (researcher.text_content("dialog .end p") or "").rsplit("code ", 1)[1].rstrip(".")

        participant.wait_for_selector("#completion-code", timeout=10_000)
        assert participant.text_content("#completion-code").strip() == code and code.startswith("TECH")
        assert "technical problem" in (participant.text_content("#scene") or "")
