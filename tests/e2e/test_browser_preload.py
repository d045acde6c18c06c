"""Pyodide, the game's code and its policies load while the participant reads the page before a client-mode game,
so the game's first frame is on screen at once when its scene opens; the policy (a recurrent ONNX model with an
adapter, acting every third step) runs in onnxruntime-web with the adapter's semantics of the pod."""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from browser import chromium, click_settled
from conftest import quick_manifest
from recurrent_policy import RIGHT, expected_actions, recurrent_bundle

OPENED = """
  new MutationObserver(() => {
    const scene = document.getElementById("scene");
    if (scene?.dataset.sceneType === "gym" && !globalThis.gymOpenedAt) {
      globalThis.gymOpenedAt = performance.timeOrigin + performance.now();
    }
  }).observe(document, {subtree: true, childList: true, attributes: true});
"""
STEPS = 30


def test_a_client_game_starts_at_once_after_the_page_before_it_and_runs_the_recurrent_policy(
    platform_factory, tmp_path: Path
):
    bundle = recurrent_bundle(tmp_path / "bundle")
    manifest = quick_manifest(tmp_path, "pong_client.yaml", episodes=1, maxSteps=STEPS)
    document = yaml.safe_load(manifest.read_text())
    document["spec"]["bundle"] = str(bundle)
    document["spec"]["scenes"][1]["players"]["right"] = RIGHT
    manifest.write_text(yaml.safe_dump(document))
    platform = platform_factory(manifest)
    with chromium() as browser:
        page = browser.new_page()
        page.add_init_script(OPENED)
        page.goto(platform.entry("pong-client", PROLIFIC_PID="reader"))
        page.wait_for_selector("#scene[data-scene-id='instructions']")
        started = time.monotonic()
        page.wait_for_timeout(5000)  # reading the instructions
        # On a busy machine Pyodide may take longer than the reading; the claim is about a warm page.
        assert page.evaluate("gymkubeDebug.preloaded") is True
        preload_s = time.monotonic() - started
        click_settled(page, "#continue")
        page.wait_for_selector("#completion-code", timeout=30_000)
        opened = page.evaluate("gymOpenedAt")
    data = platform.finish("pong-client")  # check clean, replay 100%
    first = min(f["t_drawn_client_ms"] for f in data["frames"] if f["episode"] == 1)  # the first frame on screen
    delay_ms = first - opened
    print(f"preloaded within {preload_s:.1f} s; first frame {delay_ms:.0f} ms after the game's scene opened")
    assert 0 < delay_ms < 500
    steps = sorted(data["steps"], key=lambda r: r["step"])
    assert [r["action_right"] for r in steps] == expected_actions(STEPS, 3)  # memory carried, every third step
    assert {r["source_right"] for r in steps} == {"policy"}
