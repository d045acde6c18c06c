"""A participant plays examples/cartpole.yaml in Debian chromium with real key presses."""

from __future__ import annotations

import time
from pathlib import Path

from browser import chromium, click_settled
from conftest import quick_manifest
from datacheck import assert_draw_times, assert_one_row_per_tick
from playwright.sync_api import Page

PLAYING_OR_OVER = """() => {
  const scene = document.querySelector('#scene');
  return scene && (scene.dataset.sceneType !== 'gym' || scene.dataset.gameStatus === 'playing');
}"""
SHOTS = Path(__file__).resolve().parents[2] / ".gymkube" / "screenshots"


def answer_survey(page: Page) -> None:
    names = page.eval_on_selector_all("#scene input[type=radio]", "els => [...new Set(els.map(e => e.name))]")
    for name in names:
        page.locator(f"#scene input[type=radio][name='{name}']").first.check()
    for box in page.locator("#scene input[type=number]").all():
        box.fill("3")


def hold(page: Page, key: str, seconds: float, windows: list[tuple[str, float, float]]) -> None:
    start = time.time() * 1000
    page.keyboard.down(key)
    page.wait_for_timeout(seconds * 1000)
    page.keyboard.up(key)
    windows.append((key, start, time.time() * 1000))


def test_a_participant_plays_cartpole_in_chromium_and_the_data_shows_their_keys(platform_factory, tmp_path: Path):
    manifest = quick_manifest(tmp_path, "cartpole.yaml", episodes=2, maxSteps=45, countdownS=1)
    platform = platform_factory(manifest)
    SHOTS.mkdir(parents=True, exist_ok=True)
    windows: list[tuple[str, float, float]] = []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(platform.entry("cartpole", PROLIFIC_PID="chromium1"))
        for scene_id in ("consent", "instructions"):
            page.wait_for_selector(f"#scene[data-scene-id='{scene_id}']")
            page.screenshot(path=SHOTS / f"cartpole-{scene_id}.png")
            click_settled(page, "#continue")
        # Play while the game runs: alternate the arrows (CartPole falls in ~0.3 s untouched),
        # polling every 5 ms because the default selector wait reacts only after ~250 ms.
        page.wait_for_selector("#scene[data-scene-type='gym']")
        shot = False
        for _ in range(40):
            page.wait_for_function(PLAYING_OR_OVER, polling=5, timeout=15_000)
            if page.get_attribute("#scene", "data-scene-type") != "gym":
                break
            hold(page, "ArrowRight", 0.1, windows)
            hold(page, "ArrowLeft", 0.1, windows)
            if not shot:
                page.screenshot(path=SHOTS / "cartpole-game.png")
                shot = True
        page.wait_for_selector("#scene[data-scene-type='survey']", timeout=15_000)
        answer_survey(page)
        page.screenshot(path=SHOTS / "cartpole-survey.png")
        page.click("#continue")
        page.wait_for_selector("#completion-code", timeout=10_000)
        code = page.text_content("#completion-code").strip()
        page.screenshot(path=SHOTS / "cartpole-end.png")

    data = platform.finish("cartpole")
    (session,) = data["sessions"]
    assert session["completion_code"] == code and session["status"] == "completed"
    assert "Chrome" in session["user_agent"] and session["screen"]
    assert_one_row_per_tick(data["steps"], data["episodes"], fps=30)
    # The page reported when each frame reached its canvas; every key press names the frame on screen.
    assert assert_draw_times(data["steps"], data["frames"], data["sessions"], coverage=0.5) > 0

    keys = {"ArrowLeft": 0, "ArrowRight": 1}
    pressed = [r for r in data["steps"] if r["source_agent"] == "human"]
    assert {r["action_agent"] for r in pressed} == {0, 1}, "both keys reached the game"
    for row in pressed:
        tick_ms = row["t_tick_ns"] / 1e6
        held = [k for k, start, end in windows if start - 5 <= tick_ms <= end + 150]
        assert any(keys[k] == row["action_agent"] for k in held), (
            f"step {row['step']} of episode {row['episode']} has action {row['action_agent']} "
            f"at {tick_ms:.0f} ms, while held: {held}"
        )
    consumed = [r for r in pressed if r["input_client_ms_agent"] is not None]
    assert consumed and all(r["input_client_ms_agent"] <= r["t_tick_ns"] / 1e6 + 5 for r in consumed)
