"""The treasure hunt in Chromium: a comprehension check page with its own script, then a turn-based game that
waits for each key (a combination of two arrows moves diagonally; a gamepad's d-pad moves too), its HUD from
the environment and its hooks' columns and bonus in the data.

Playwright cannot press a real gamepad: the test puts a stand-in behind `navigator.getGamepads` before the
page loads and presses its buttons, which the page polls as it would a real one."""

from __future__ import annotations

from pathlib import Path

from browser import chromium, click_settled
from conftest import quick_manifest
from playwright.sync_api import expect
from test_browser_pages import page_frame

FAKE_GAMEPAD = """
  const buttons = Array.from({length: 17}, () => ({pressed: false, touched: false, value: 0}));
  const pad = {id: "stand-in gamepad", index: 0, connected: true, mapping: "standard", timestamp: 0,
               axes: [0, 0, 0, 0], buttons};
  globalThis.fakePad = pad;
  Object.defineProperty(navigator, "getGamepads", {value: () => [pad, null, null, null]});
"""


def moves(page) -> int:
    return int((page.text_content("#hud") or "").rsplit(" ", 1)[-1])


def after_moving(page, before: int) -> int:
    """Wait until the HUD counts more moves than `before`; the count then."""
    page.wait_for_function(f"() => Number(document.querySelector('#hud').textContent.split(' ').pop()) > {before}")
    return moves(page)


def test_a_turn_based_game_waits_for_each_key_and_takes_combinations_and_a_gamepad(platform_factory, tmp_path: Path):
    platform = platform_factory(quick_manifest(tmp_path, "treasure_grid.yaml", episodes=1, maxSteps=6))
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.add_init_script(FAKE_GAMEPAD)
        page.goto(platform.entry("treasure-grid", PROLIFIC_PID="turner"))
        check = page_frame(page, "how-to-play")
        button = page.locator("#continue")
        check.locator("input[value=moves]").check()  # wrong: the page's script keeps Continue off
        expect(button).to_be_disabled()
        check.locator("input[value=waits]").check()
        expect(button).to_be_enabled()
        click_settled(page, "#continue")
        page.wait_for_selector("#scene[data-game-status='playing']")
        expect(page.locator("#hud")).to_have_text("Treasures 0/4   Moves 0")  # the environment's hud_text()
        page.wait_for_timeout(1500)  # no key: the game waits (nothing moves, nothing is recorded)
        assert moves(page) == 0
        page.keyboard.press("ArrowRight")
        after_moving(page, 0)
        page.wait_for_timeout(1000)
        assert moves(page) == 1  # still waiting for the next key
        page.keyboard.down("ArrowUp")  # two arrows together: a diagonal move
        page.keyboard.down("ArrowLeft")
        page.keyboard.up("ArrowLeft")
        page.keyboard.up("ArrowUp")
        page.wait_for_timeout(300)
        before = after_moving(page, 1)
        page.evaluate("fakePad.buttons[15].pressed = true")  # the d-pad's right
        before = after_moving(page, before)
        page.evaluate("fakePad.buttons[15].pressed = false")
        page.evaluate("fakePad.axes[1] = -0.9")  # the left stick pushed up
        after_moving(page, before)
        page.evaluate("fakePad.axes[1] = 0")
        while "after" not in (page.get_attribute("#scene", "data-scene-id") or ""):
            page.keyboard.press(" ")  # wait turns until the episode's maxSteps
            page.wait_for_timeout(200)
        page.wait_for_selector("#scene[data-scene-id='after']", timeout=20_000)
    data = platform.finish("treasure-grid")  # check clean, replay 100%
    steps = sorted(data["steps"], key=lambda r: r["step"])
    played = [(r["action_explorer"], r["source_explorer"]) for r in steps]
    # The diagonal is one step when both keys went down within one tick; on a slow machine a step may take the
    # up alone before the left arrives, and the combination is the next step: never a lone "left".
    diagonal = played[1:2] if played[1] == (5, "human") else played[1:3]
    assert played[0] == (4, "human") and diagonal in ([(5, "human")], [(1, "human"), (5, "human")])
    rest = played[1 + len(diagonal) :]
    assert rest[:2] == [(4, "gamepad"), (1, "gamepad")] and set(rest[2:]) == {(0, "human")}
    assert steps[0]["turn_wait_ms"] >= 1500  # the first move waited for the participant
    (episode,) = data["episodes"]
    assert episode["bonus"] == round(episode["score"] * 0.05, 2) and episode["hook_errors"] == 0
    assert all("hook_nearest" in r for r in steps)
    (scene,) = [s for s in data["scenes"] if s["scene"] == "how-to-play"]
    assert '"check": "waits"' in scene["answers"] and '"attempts": 2' in scene["answers"]
