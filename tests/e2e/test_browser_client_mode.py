"""Client mode: the environment runs in the participant's browser (Pyodide, served by the pod), the AI paddle
through onnxruntime-web; real key presses; the pod's data matches what was played and replays on the pod."""

from __future__ import annotations

import time
from pathlib import Path

from browser import chromium
from conftest import quick_manifest


def test_a_participant_plays_pong_in_the_browser_and_the_pod_keeps_every_step(platform_factory, tmp_path: Path):
    manifest = quick_manifest(tmp_path, "pong_client.yaml", episodes=2, maxSteps=90, countdownS=1)
    platform = platform_factory(manifest)
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1000, "height": 800}).new_page()
        external: list[str] = []
        page.route(  # everything comes from the pod: no CDN, no package index
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith("http://127.0.0.1")
                else (external.append(route.request.url), route.abort())
            ),
        )
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(platform.entry("pong-client", PROLIFIC_PID="carol"))
        page.wait_for_selector("#scene[data-scene-id='instructions']")
        page.click("#continue")
        page.wait_for_selector("#scene[data-game-status='playing']", timeout=60_000)
        page.wait_for_timeout(700)
        page.screenshot(path=str(tmp_path / "playing.png"))
        for key in ("ArrowUp", "ArrowDown", "ArrowUp"):
            page.keyboard.down(key)
            page.wait_for_timeout(400)
            page.keyboard.up(key)
            page.wait_for_timeout(150)
        hud = page.text_content("#hud")
        page.wait_for_selector("#completion-code", timeout=30_000)
    assert not errors and not external, (errors, external)
    assert hud and hud.startswith("Round 1/2")
    data = platform.finish("pong-client")
    episodes = sorted(data["episodes"], key=lambda e: e["episode"])
    assert [(e["episode"], e["mode"], e["status"]) for e in episodes] == [(1, "client", "truncated")] + [
        (2, "client", "truncated")
    ]
    steps = data["steps"]
    assert len(steps) == 2 * 90
    assert {r["source_right"] for r in steps} == {"policy"}
    pressed = [r for r in steps if r["source_left"] == "human"]
    assert {r["action_left"] for r in pressed} == {1, 2}
    assert all(r["input_seq_left"] is not None and r["t_tick_ns"] is not None for r in pressed[:1])
    versions = episodes[0]["versions"]
    assert '"runtime": "pyodide"' in versions and '"python": "3.14' in versions


def test_a_closed_tab_loses_at_most_the_last_second(platform_factory, tmp_path: Path):
    manifest = quick_manifest(tmp_path, "pong_client.yaml", episodes=1, maxSteps=900, reconnectGraceS=1)
    platform = platform_factory(manifest)
    with chromium() as browser:
        page = browser.new_context().new_page()
        page.goto(platform.entry("pong-client", PROLIFIC_PID="finn"))
        page.wait_for_selector("#scene[data-scene-id='instructions']")
        page.click("#continue")
        page.wait_for_selector("#scene[data-game-status='playing']", timeout=60_000)
        page.wait_for_timeout(3300)
        played = page.evaluate("gymkubeDebug.game.game.sim.step")
        page.close()  # no goodbye: whatever was not sent yet is gone
    page_closed_at_step = played
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # the pod ends the game after the 1 s grace
        if platform.admin_overview()["experiments"][0]["pods"][0].get("games", 1) == 0:
            break
        time.sleep(0.5)
    data = platform.finish("pong-client")
    (episode,) = data["episodes"]
    assert episode["status"] == "abandoned"
    assert page_closed_at_step - 30 - 4 <= episode["steps"] == len(data["steps"]) <= page_closed_at_step
