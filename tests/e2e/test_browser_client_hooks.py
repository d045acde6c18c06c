"""Hooks and turns in the browser (client mode): the same hooks module runs under Pyodide; its columns, HUD text
and bonus reach the data, a hook that raises is recorded once, and the game still waits for each key."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import yaml
from browser import chromium, click_settled
from conftest import EXAMPLES, quick_manifest
from playwright.sync_api import expect
from test_browser_pages import page_frame

HOOKS = '''
from grid_hooks import TreasureHooks


class Chatty(TreasureHooks):
    """The example's hooks, plus a HUD line of its own, and a failure at the second step."""

    def on_step(self, env, step, **rest):
        if step == 2:
            raise RuntimeError("the second step is cursed")
        return super().on_step(env, **rest) | {"hud": f"Step {step} in the browser"}
'''


def test_hooks_and_turns_run_in_the_browser_and_reach_the_data(platform_factory, tmp_path: Path):
    bundle = tmp_path / "bundle"
    shutil.copytree(EXAMPLES / "treasure_grid", bundle)
    (bundle / "chatty_hooks.py").write_text(HOOKS)
    manifest = quick_manifest(tmp_path, "treasure_grid.yaml", episodes=2, maxSteps=4, mode="client",
                              hooks="chatty_hooks:Chatty")  # fmt: skip
    document = yaml.safe_load(manifest.read_text())
    document["spec"]["bundle"] = str(bundle)
    manifest.write_text(yaml.safe_dump(document))
    platform = platform_factory(manifest)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.goto(platform.entry("treasure-grid", PROLIFIC_PID="pyodide"))
        page_frame(page, "how-to-play").locator("input[value=waits]").check()
        click_settled(page, "#continue")
        page.wait_for_selector("#scene[data-game-status='playing']", timeout=60_000)
        expect(page.locator("#hud")).to_have_text("Treasures 0/4   Moves 0")  # before a step: the environment's
        page.wait_for_timeout(1000)
        assert page.evaluate("gymkubeDebug.game.game.sim.step") == 0  # the game waits for a key
        page.keyboard.press("ArrowRight")
        expect(page.locator("#hud")).to_have_text("Step 1 in the browser")  # the hook's HUD text
        for key in ("ArrowDown", "ArrowLeft", "ArrowUp"):
            page.keyboard.press(key)
            page.wait_for_timeout(150)
        page.wait_for_selector("#scene[data-game-status='playing']", timeout=20_000)
        for _ in range(4):
            page.keyboard.press(" ")
            page.wait_for_timeout(150)
        page.wait_for_selector("#scene[data-scene-id='after']", timeout=30_000)
    data = platform.finish("treasure-grid")  # check clean, replay 100%: the pod replays what the browser played
    episodes = sorted(data["episodes"], key=lambda e: e["episode"])
    assert [(e["mode"], e["steps"]) for e in episodes] == [("client", 4), ("client", 4)]
    for episode in episodes:
        assert episode["bonus"] == round(episode["score"] * 0.05, 2) and episode["hook_errors"] == 1
    steps = sorted(data["steps"], key=lambda r: (r["episode"], r["step"]))
    assert [r["action_explorer"] for r in steps[:4]] == [4, 2, 3, 1]
    assert [r["hook_nearest"] is None for r in steps] == [False, True, False, False] * 2  # step 2 raised
    assert all(r["turn_wait_ms"] > 0 and r["source_explorer"] == "human" for r in steps)
    errors = [json.loads(e["detail"]) for e in data["events"] if e["kind"] == "hook_error"]
    assert len(errors) == 1 and "the second step is cursed" in errors[0]["error"]  # once per game
