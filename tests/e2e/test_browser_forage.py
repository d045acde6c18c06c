"""A participant plays beside the ONNX policy in chromium and is redirected with their code."""

from __future__ import annotations

import json
import time
from pathlib import Path

import yaml
from browser import chromium, click_settled
from conftest import quick_manifest
from datacheck import assert_one_row_per_tick


def test_a_participant_plays_beside_the_ai_and_is_sent_back_with_the_code(platform_factory, tmp_path: Path):
    manifest = quick_manifest(tmp_path, "forage_ai.yaml", episodes=1, maxSteps=40, fps=10, countdownS=1)
    document = yaml.safe_load(manifest.read_text())
    end = document["spec"]["scenes"][-1]
    end["redirectUrl"] = "http://127.0.0.1:9/finished?cc={code}&who={participant}"
    end["redirectDelayS"] = 0.5
    manifest.write_text(yaml.safe_dump(document, sort_keys=False))
    platform = platform_factory(manifest)

    keys = {"ArrowUp": 1, "ArrowDown": 2, "ArrowLeft": 3, "ArrowRight": 4}
    windows: list[tuple[str, float, float]] = []
    redirects: list[str] = []
    with chromium() as browser:
        page = browser.new_page()
        # Stand in for Prolific: answer the redirect locally and remember where it went.
        page.route(
            "http://127.0.0.1:9/**",
            lambda route: (redirects.append(route.request.url), route.fulfill(body="returned"))[1],
        )
        page.goto(platform.entry("forage-ai", PROLIFIC_PID="p42", STUDY_ID="study7"))
        for scene_id in ("consent", "instructions"):
            page.wait_for_selector(f"#scene[data-scene-id='{scene_id}']")
            click_settled(page, "#continue")
        page.wait_for_selector("#scene[data-game-status='playing']", timeout=10_000)
        for key in ("ArrowRight", "ArrowDown", "ArrowLeft", "ArrowUp"):
            start = time.time() * 1000
            page.keyboard.down(key)
            page.wait_for_timeout(400)
            page.keyboard.up(key)
            windows.append((key, start, time.time() * 1000))
        page.wait_for_selector("#scene[data-scene-type='survey']", timeout=15_000)
        for name in page.eval_on_selector_all("#scene input[type=radio]", "els => [...new Set(els.map(e => e.name))]"):
            page.locator(f"#scene input[type=radio][name='{name}']").first.check()
        page.click("#continue")
        page.wait_for_selector("#completion-code", timeout=10_000)
        code = page.text_content("#completion-code").strip()
        page.wait_for_timeout(2000)

    assert any(url.startswith(f"http://127.0.0.1:9/finished?cc={code}&who=p42") for url in redirects)
    data = platform.finish("forage-ai")
    (session,) = data["sessions"]
    assert session["completion_code"] == code
    assert json.loads(session["url_params"]) == {"PROLIFIC_PID": "p42", "STUDY_ID": "study7"}
    assert json.loads(session["latency_ms"]), "the page measured its latency to the pod"
    assert_one_row_per_tick(data["steps"], data["episodes"], fps=10)
    assert {r["source_red"] for r in data["steps"]} == {"policy"}
    human = [r for r in data["steps"] if r["source_blue"] == "human"]
    assert {r["action_blue"] for r in human} == set(keys.values()), "all four arrows reached the game"
    for row in human:
        tick_ms = row["t_tick_ns"] / 1e6
        held = [keys[k] for k, start, end in windows if start - 5 <= tick_ms <= end + 150]
        assert row["action_blue"] in held, f"step {row['step']}: action {row['action_blue']}, held {held}"
