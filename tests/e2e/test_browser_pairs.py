"""Two people in two browser contexts wait for each other, then play one game with real key presses."""

from __future__ import annotations

import json
import time
from pathlib import Path

from browser import chromium, click_settled
from conftest import quick_manifest
from datacheck import assert_one_row_per_tick

KEYS = {"ArrowUp": 1, "ArrowDown": 2, "ArrowLeft": 3, "ArrowRight": 4}


def test_two_participants_play_one_game_together_each_recorded_under_their_own_agent(platform_factory, tmp_path: Path):
    manifest = quick_manifest(tmp_path, "forage_human_human.yaml", episodes=1, maxSteps=70, fps=10, countdownS=1)
    platform = platform_factory(manifest)
    presses = {"alice": ["ArrowRight", "ArrowDown", "ArrowRight"], "bob": ["ArrowLeft", "ArrowUp", "ArrowLeft"]}
    windows: dict[str, list[tuple[str, float, float]]] = {"alice": [], "bob": []}
    with chromium() as browser:
        pages = {}
        for who in ("alice", "bob"):
            pages[who] = browser.new_context(viewport={"width": 1100, "height": 900}).new_page()
        alice, bob = pages["alice"], pages["bob"]

        alice.goto(platform.entry("forage-pairs", PROLIFIC_PID="alice"))
        for scene_id in ("consent", "instructions"):
            alice.wait_for_selector(f"#scene[data-scene-id='{scene_id}']")
            click_settled(alice, "#continue")
        alice.wait_for_selector("#scene[data-game-status='waiting']", timeout=10_000)
        # The room says "Checking your connection…" until the first round trips are in (maxLatencyMs is set).
        alice.wait_for_function(
            "() => document.getElementById('status').textContent.includes('Waiting for')", timeout=10_000
        )
        waiting_text = alice.text_content("#status")
        alice.screenshot(path=str(tmp_path / "waiting.png"))

        bob.goto(platform.entry("forage-pairs", PROLIFIC_PID="bob"))
        for scene_id in ("consent", "instructions"):
            bob.wait_for_selector(f"#scene[data-scene-id='{scene_id}']")
            click_settled(bob, "#continue")
        for page in (alice, bob):
            page.wait_for_selector("#scene[data-game-status='playing']", timeout=15_000)
        agents = {who: page.get_attribute("#role", "data-agent") for who, page in pages.items()}
        roles = {who: page.text_content("#role") for who, page in pages.items()}
        alice.screenshot(path=str(tmp_path / "playing-alice.png"))

        for turn in range(3):  # one at a time, so each key's window belongs to one page only
            for who, page in pages.items():
                key = presses[who][turn]
                start = time.time() * 1000
                page.keyboard.down(key)
                page.wait_for_timeout(350)
                page.keyboard.up(key)
                windows[who].append((key, start, time.time() * 1000))
                page.wait_for_timeout(150)

        codes = {}
        for who, page in pages.items():
            page.wait_for_selector("#scene[data-scene-type='survey']", timeout=20_000)
            for name in page.eval_on_selector_all(
                "#scene input[type=radio]", "els => [...new Set(els.map(e => e.name))]"
            ):
                page.locator(f"#scene input[type=radio][name='{name}']").first.check()
            page.click("#continue")
            page.route("https://app.prolific.com/**", lambda route: route.fulfill(body="returned"))
            page.wait_for_selector("#completion-code", timeout=10_000)
            codes[who] = page.text_content("#completion-code").strip()

    assert "Waiting for 1 more participant" in waiting_text and "1 of 2 here" in waiting_text
    assert sorted(agents.values()) == ["blue", "red"]
    for who, agent in agents.items():
        partner = "Red" if agent == "blue" else "Blue"
        assert " ".join(roles[who].split()) == f"You are {agent.capitalize()} — with {partner}", roles[who]
    data = platform.finish("forage-pairs")
    (episode,) = data["episodes"]
    assert {episode[f"participant_{agent}"]: who for who, agent in agents.items()} == {"alice": "alice", "bob": "bob"}
    assert_one_row_per_tick(data["steps"], data["episodes"], fps=10)
    rows = {s["participant"]: s for s in data["sessions"]}
    for who, agent in agents.items():
        assert rows[who]["completion_code"] == codes[who] and rows[who]["status"] == "completed"
        assert json.loads(rows[who]["groups"])["forage"]["agent"] == agent
        human = [r for r in data["steps"] if r[f"source_{agent}"] == "human"]
        assert {r[f"action_{agent}"] for r in human} == {KEYS[k] for k in presses[who]}, f"{who}'s keys as {agent}"
        for row in human:
            tick_ms = row["t_tick_ns"] / 1e6
            held = [KEYS[k] for k, start, end in windows[who] if start - 5 <= tick_ms <= end + 150]
            assert row[f"action_{agent}"] in held, f"{who} step {row['step']}: {row[f'action_{agent}']}, held {held}"
