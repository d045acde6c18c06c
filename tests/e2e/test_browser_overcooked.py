"""A participant cooks in examples/overcooked_ai.yaml in chromium with real keys and sees the kitchen's sprites."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
from browser import chromium, click_settled
from conftest import ROOT, quick_manifest
from PIL import Image
from test_browser_cartpole import answer_survey

SHOTS = ROOT / ".gymkube" / "screenshots"
CANVAS = "c => c.toDataURL('image/png')"


def canvas_picture(page) -> np.ndarray:  # type: ignore[no-untyped-def]
    data = page.eval_on_selector("#game", CANVAS)
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(data.split(",", 1)[1]))).convert("RGB"), dtype=np.int16)


def share_near(picture: np.ndarray, color: tuple[int, int, int], tolerance: int = 12) -> float:
    """The share of the picture's pixels within `tolerance` of `color` in every channel."""
    return float((np.abs(picture - np.array(color)).max(axis=2) <= tolerance).mean())


def test_a_participant_cooks_with_real_keys_and_sees_the_kitchen_drawn(platform_factory, tmp_path: Path) -> None:
    manifest = quick_manifest(tmp_path, "overcooked_ai.yaml", episodes=1, maxSteps=48, countdownS=1)
    platform = platform_factory(manifest)
    keys = ["ArrowLeft", "ArrowUp", " ", "ArrowRight", "ArrowDown", " "]
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.goto(platform.entry("overcooked-ai", PROLIFIC_PID="chef1"))
        for scene_id in ("consent", "instructions"):
            page.wait_for_selector(f"#scene[data-scene-id='{scene_id}']")
            click_settled(page, "#continue")
        page.wait_for_selector("#scene[data-game-status='playing']", timeout=20_000)
        page.wait_for_timeout(500)
        first = canvas_picture(page)
        for key in keys:
            page.keyboard.down(key)
            page.wait_for_timeout(350)
            page.keyboard.up(key)
            page.wait_for_timeout(100)
        later = canvas_picture(page)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SHOTS / "overcooked-game.png")
        page.wait_for_selector("#scene[data-scene-type='survey']", timeout=20_000)
        answer_survey(page)
        page.click("#continue")
        page.wait_for_selector("#completion-code", timeout=10_000)
    # The kitchen is drawn from the atlas: both chefs' shirts, the onion crates' onions, the floor.
    for name, color, least in (("blue chef", (52, 120, 220), 0.003), ("green chef", (46, 160, 90), 0.003),
                               ("onions", (214, 170, 60), 0.002), ("floor", (226, 214, 190), 0.05)):  # fmt: skip
        assert share_near(first, color) >= least, f"no {name} on the canvas"
    assert np.abs(later - first).max(axis=2).astype(bool).mean() > 0.005, "the chefs moved on the canvas"
    data = platform.finish("overcooked-ai")  # check clean, replay 100%
    human = [r for r in data["steps"] if r["source_chef_blue"] == "human"]
    assert {r["action_chef_blue"] for r in human} >= {2, 0, 4}, "left, up and space reached the game"
    assert {r["source_chef_green"] for r in data["steps"]} == {"policy"}
