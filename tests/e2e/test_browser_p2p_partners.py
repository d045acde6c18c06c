"""P2P partners that are not (or no longer) people: an ONNX policy beside two browsers, and a lost partner's seat.

The policy runs in one browser (onnxruntime-web) and its actions travel as inputs, so both browsers record
the same steps; a partner who closes the tab is replaced by the seat's fallback past reconnectGraceS and
the other participant finishes with a code. `platform.finish` checks the data and replays it (100%).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from browser import chromium, click_settled
from conftest import quick_manifest
from test_browser_p2p import LOOPBACK, LOOPBACK_ONLY, assert_peers_agree, p2p_data

NAME = "pong-p2p"
POLICY = {"type": "policy", "file": "policy.onnx", "label": "Computer", "color": "#a5d6ff"}


def p2p_manifest(tmp_path: Path, change: Any, **gym: Any) -> Path:
    settings = {"inputDelay": 2, "maxPrediction": 8, "hashEvery": 30, "connectTimeoutS": 6}
    path = quick_manifest(tmp_path, "pong_p2p.yaml", episodes=1, countdownS=1, p2p=settings, **gym)
    document = yaml.safe_load(path.read_text())
    change(next(s for s in document["spec"]["scenes"] if s["type"] == "gym"))
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def open_pages(browser: Any, platform: Any) -> dict[str, Any]:
    pages = {}
    for who in ("dana", "eli"):
        context = browser.new_context(viewport={"width": 900, "height": 700})
        context.grant_permissions(["microphone"])
        context.add_init_script(LOOPBACK_ONLY)
        page = context.new_page()
        page.on("pageerror", lambda exc, who=who: pytest.fail(f"{who}: {exc}"))
        page.goto(platform.entry(NAME, PROLIFIC_PID=who))
        page.wait_for_selector("#scene[data-scene-id='instructions']")
        click_settled(page, "#continue")
        pages[who] = page
    for page in pages.values():
        page.wait_for_selector("#scene[data-game-status='playing']", timeout=60_000)
    return pages


def press_keys(pages: dict[str, Any], count: int) -> None:
    for turn in range(count):
        for page in pages.values():
            page.keyboard.down("ArrowUp" if turn % 2 else "ArrowDown")
            page.wait_for_timeout(150)
            page.keyboard.up("ArrowUp" if turn % 2 else "ArrowDown")


def test_an_onnx_policy_plays_beside_two_browsers_and_both_record_the_same_steps(platform_factory, tmp_path: Path):
    def third_paddle(scene: dict[str, Any]) -> None:
        scene["environment"]["kwargs"] = {"agents": ["left", "right", "left2"]}
        scene["players"]["left2"] = POLICY | {"observation": {"key": "left2"}}

    platform = platform_factory(p2p_manifest(tmp_path, third_paddle, maxSteps=240))
    with chromium(LOOPBACK) as browser:
        pages = open_pages(browser, platform)
        press_keys(pages, 4)
        codes = {}
        for who, page in pages.items():
            page.wait_for_selector("#completion-code", timeout=60_000)
            codes[who] = page.text_content("#completion-code").strip()
            page.evaluate("gymkubeDebug.game?.stop()")
    data = p2p_data(platform)  # the platform checked the data and replayed it: 100%
    assert_peers_agree(data)  # every step reported by both browsers, and the same
    sources = [r["source_left2"] for r in data["steps"]]
    assert set(sources) <= {"policy", "default"} and sources.count("policy") > 0.9 * len(sources)
    assert len({r["action_left2"] for r in data["steps"]}) > 1
    assert json.loads(data["episode"]["players"])["left2"]["type"] == "policy"
    assert sorted(codes.values()) == sorted(s["completion_code"] for s in data["sessions"])


def test_a_partner_who_closes_the_tab_is_replaced_by_the_fallback_and_the_other_finishes(
    platform_factory, tmp_path: Path
):
    def with_fallbacks(scene: dict[str, Any]) -> None:
        for agent in ("left", "right"):
            scene["players"][agent]["fallback"] = POLICY | {"observation": {"key": agent}}
        scene["group"]["onDropout"] = "fallback"

    platform = platform_factory(p2p_manifest(tmp_path, with_fallbacks, maxSteps=360, reconnectGraceS=1))
    with chromium(LOOPBACK) as browser:
        pages = open_pages(browser, platform)
        press_keys(pages, 2)
        leaver = pages.pop("eli")
        left_as = leaver.get_attribute("#role", "data-agent")
        leaver.evaluate("gymkubeDebug.game?.stop()")
        leaver.context.close()
        dana = pages["dana"]
        dana.wait_for_selector("#notice:has-text('The computer plays')", timeout=30_000)  # told, in plain words
        dana.wait_for_selector("#completion-code", timeout=60_000)
        code = dana.text_content("#completion-code").strip()
        dana.evaluate("gymkubeDebug.game?.stop()")
    data = platform.finish(NAME)
    sessions = {s["participant"]: s for s in data["sessions"]}
    assert sessions["dana"]["status"] == "completed" and sessions["dana"]["completion_code"] == code
    assert sessions["eli"]["end_reason"] == "dropped"
    (episode,) = data["episodes"]
    steps = sorted(data["steps"], key=lambda r: r["step"])
    assert episode["status"] in ("terminated", "truncated") and [r["step"] for r in steps] == list(
        range(1, episode["steps"] + 1)
    )
    takeover = json.loads(episode["players"])[left_as]["takeover"]
    sources = [r[f"source_{left_as}"] for r in steps]
    switch = takeover["step"]  # the step before the fallback's first action
    assert takeover["left"] == "eli" and 0 < switch < len(steps)
    assert set(sources[:switch]) <= {"human", "default"} and set(sources[switch:]) == {"fallback"}
    events = {r["kind"] for r in data["events"]}
    assert {"left_group", "partner_left", "p2p_takeover"} <= events
