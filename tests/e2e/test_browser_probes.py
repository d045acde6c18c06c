"""Peer probing: browsers waiting for a p2p game measure their round trips to each other over WebRTC.

Only pairs under `group.maxPeerRttMs` are grouped; a page with an added send delay (as a slow home
connection would add) is never paired and reaches the wait timeout; every probe is in the events.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from browser import chromium, click_settled
from conftest import quick_manifest
from test_browser_p2p import LOOPBACK, LOOPBACK_ONLY

NAME = "pong-p2p"
LIMIT_MS = 150
DELAY_MS = 250


def probing_manifest(tmp_path: Path, max_wait_s: float) -> Path:
    settings = {"inputDelay": 2, "maxPrediction": 8, "hashEvery": 30, "connectTimeoutS": 6}
    path = quick_manifest(tmp_path, "pong_p2p.yaml", episodes=1, maxSteps=90, countdownS=1, p2p=settings)
    document = yaml.safe_load(path.read_text())
    scene = next(s for s in document["spec"]["scenes"] if s["type"] == "gym")
    scene["group"] |= {"maxPeerRttMs": LIMIT_MS, "maxWaitS": max_wait_s, "onWaitTimeout": "end"}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def arrive(browser: Any, platform: Any, who: str, delay_ms: int) -> Any:
    """A participant's page reaches the waiting room; `delay_ms` is added to everything it sends to peers."""
    context = browser.new_context(viewport={"width": 900, "height": 700})
    context.grant_permissions(["microphone"])  # with the flag: loopback candidates are offered
    context.add_init_script(LOOPBACK_ONLY)
    page = context.new_page()
    page.on("pageerror", lambda exc: pytest.fail(f"{who}: {exc}"))
    page.goto(platform.entry(NAME, PROLIFIC_PID=who))
    page.wait_for_selector("#scene[data-scene-id='instructions']")
    page.evaluate(f"gymkubeDebug.sendDelayMs = {delay_ms}")
    click_settled(page, "#continue")
    page.wait_for_selector("#scene[data-game-status='waiting']", timeout=20_000)
    return page


STATE_JS = """() => {
  const scene = document.querySelector("#scene");
  return {scene: scene?.dataset.sceneId, game: scene?.dataset.gameStatus,
          status: document.querySelector("#status")?.textContent?.slice(0, 300),
          preloaded: String(globalThis.gymkubeDebug?.preloaded), game_object: Boolean(globalThis.gymkubeDebug?.game)};
}"""


def play_to_the_end(pages: dict[str, Any]) -> dict[str, str]:
    """Each page's completion code, once its game is over (the data says whether they played together).

    Not waiting for "playing" first: while the test still brings later pages in, a pair grouped early
    may have played its three seconds and moved on to the end scene already.
    """
    codes = {}
    for who, page in pages.items():  # four pages load Pyodide at once (the waiting ones preload it): give it time
        try:
            page.wait_for_selector("#completion-code", timeout=180_000)
        except Exception as exc:  # say where each page stood, so that a failure can be read from CI's log
            states = {w: p.evaluate(STATE_JS) for w, p in pages.items()}
            raise AssertionError(f"{who} never finished: {states}") from exc
        codes[who] = page.text_content("#completion-code").strip()
        page.evaluate("gymkubeDebug.game?.stop()")
    return codes


def probe_events(data: dict[str, Any]) -> dict[frozenset[str], list[dict[str, Any]]]:
    """Every finished probe's events, by pair (each side records its own)."""
    pairs: dict[frozenset[str], list[dict[str, Any]]] = {}
    for row in data["events"]:
        if row["kind"] == "peer_probe":
            detail = json.loads(row["detail"]) | {"participant": row["participant"]}
            pairs.setdefault(frozenset((row["participant"], detail["peer"])), []).append(detail)
    return pairs


def grouped(data: dict[str, Any]) -> list[set[str]]:
    return [{e["participant_left"], e["participant_right"]} for e in data["episodes"]]


def test_two_waiting_browsers_probe_each_other_then_play(platform_factory, tmp_path: Path):
    platform = platform_factory(probing_manifest(tmp_path, max_wait_s=60))
    with chromium(LOOPBACK) as browser:
        pages = {who: arrive(browser, platform, who, 0) for who in ("dana", "eli")}
        codes = play_to_the_end(pages)
    data = platform.finish(NAME)
    assert grouped(data) == [{"dana", "eli"}]
    ((pair, sides),) = probe_events(data).items()
    assert pair == {"dana", "eli"} and {s["participant"] for s in sides} == {"dana", "eli"}
    for side in sides:
        assert side["outcome"] == "ok" and side["transport"] == "direct" and side["limit_ms"] == LIMIT_MS
        assert 0 <= side["rtt_ms"] < LIMIT_MS and side["samples"] >= 3
        assert side["rtt_ms"] == max(side["reported_ms"].values())  # the larger of the two sides' medians
    formed = [json.loads(e["detail"]) for e in data["events"] if e["kind"] == "group_formed"]
    assert {f["matchmaker"] for f in formed} == {"fifo"}
    completed = {s["participant"]: s["completion_code"] for s in data["sessions"] if s["status"] == "completed"}
    assert completed == codes


def test_of_four_browsers_only_the_fast_pair_is_grouped_and_the_slow_ones_time_out(platform_factory, tmp_path: Path):
    platform = platform_factory(probing_manifest(tmp_path, max_wait_s=25))
    delays = {"ann": 0, "ben": DELAY_MS, "cat": 0, "dov": DELAY_MS}  # in order of arrival
    with chromium(LOOPBACK) as browser:
        pages = {who: arrive(browser, platform, who, delay) for who, delay in delays.items()}
        waiting_ends = {}
        codes = play_to_the_end({who: pages[who] for who in ("ann", "cat")})
        for who in ("ben", "dov"):
            pages[who].wait_for_selector("#completion-code", timeout=60_000)
            waiting_ends[who] = pages[who].text_content("#scene")
    data = platform.finish(NAME)
    assert grouped(data) == [{"ann", "cat"}]
    sessions = {s["participant"]: s for s in data["sessions"]}
    assert [sessions[who]["end_reason"] for who in ("ben", "dov")] == ["wait_timeout", "wait_timeout"]
    assert [sessions[who]["status"] for who in ("ann", "cat")] == ["completed", "completed"]
    assert {sessions[who]["completion_code"] for who in ("ann", "cat")} == set(codes.values())
    probed = probe_events(data)
    fast = probed[frozenset(("ann", "cat"))]
    assert {s["outcome"] for s in fast} == {"ok"} and all(s["rtt_ms"] < LIMIT_MS for s in fast)
    slow = {pair: sides for pair, sides in probed.items() if pair & {"ben", "dov"}}
    assert slow, "the slow participants were probed"
    for pair, sides in slow.items():  # measured over the limit (or stopped when a partner was grouped)
        outcomes = {s["outcome"] for s in sides}
        assert outcomes in ({"over_limit"}, {"stopped"}), (pair, sides)
        if outcomes == {"over_limit"}:
            assert all(s["rtt_ms"] >= DELAY_MS * 0.8 for s in sides), (pair, sides)
    assert any({s["outcome"] for s in sides} == {"over_limit"} for pair, sides in slow.items() if "ann" in pair)
    for who in ("ben", "dov"):
        assert sessions[who]["completion_code"] in waiting_ends[who]
