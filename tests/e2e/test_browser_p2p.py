"""P2P mode: two participants in two browser contexts play Pong, each browser stepping the game (Pyodide).

Three paths: a direct DataChannel on 127.0.0.1; relay-only through Debian coturn with the pod's TURN
credentials (also killed mid-game and brought back: the pod relays meanwhile and an ICE restart mends
the path); and, with WebRTC made to fail, through the pod's relay. Then rollback with an added delay on
one peer and an injected desync. In each, both peers end in the same state and the data is complete.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from browser import chromium, click_settled
from conftest import quick_manifest
from turnserver import turnserver

LOOPBACK = "--allow-loopback-in-peer-connection"  # else Chromium offers no candidate on 127.0.0.1
RELAY_ONLY = """(() => {  // every connection relay-only, through the TURN servers the page was given
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = function (config) {
    return new Native({ ...(config || {}), iceTransportPolicy: "relay" });
  };
  window.RTCPeerConnection.prototype = Native.prototype;
})();"""
LOOPBACK_ONLY = """(() => {  // remote candidates other than 127.0.0.1 are dropped: this machine's eth0 would hide a
  // missing loopback flag or permission, as on a machine with loopback only
  const add = RTCPeerConnection.prototype.addIceCandidate;
  RTCPeerConnection.prototype.addIceCandidate = function (candidate, ...rest) {
    const text = candidate?.candidate ?? "";
    return text && !/ 127\\.0\\.0\\.1 /.test(text) ? Promise.resolve() : add.call(this, candidate, ...rest);
  };
})();"""
NO_WEBRTC = """(() => {  // WebRTC cannot connect: no ICE servers and relay-only, so no candidate at all
  const Native = window.RTCPeerConnection;
  window.RTCPeerConnection = function () { return new Native({ iceServers: [], iceTransportPolicy: "relay" }); };
  window.RTCPeerConnection.prototype = Native.prototype;
})();"""


def play_pair(platform: Any, tmp_path: Path, init_script: str | None = None, during: Any = None) -> dict[str, str]:
    """Both participants play the p2p scene to the end; their completion codes."""
    codes: dict[str, str] = {}
    with chromium(LOOPBACK) as browser:
        pages = {}
        for who in ("dana", "eli"):
            context = browser.new_context(viewport={"width": 900, "height": 700})
            context.grant_permissions(["microphone"])  # with the flag: loopback candidates are offered
            if init_script:
                context.add_init_script(init_script)
            page = context.new_page()
            page.on("pageerror", lambda exc, who=who: pytest.fail(f"{who}: {exc}"))
            page.goto(platform.entry("pong-p2p", PROLIFIC_PID=who))
            page.wait_for_selector("#scene[data-scene-id='instructions']")
            click_settled(page, "#continue")
            pages[who] = page
        for page in pages.values():
            page.wait_for_selector("#scene[data-game-status='playing']", timeout=60_000)
        for turn, key in enumerate(("ArrowUp", "ArrowDown", "ArrowUp", "ArrowDown", "ArrowUp")):
            for page in pages.values():
                page.keyboard.down(key)
                page.wait_for_timeout(200)
                page.keyboard.up(key)
            if during is not None and turn == 0:
                during(pages)
        pages["dana"].screenshot(path=str(tmp_path / "p2p-dana.png"))
        for who, page in pages.items():
            page.wait_for_selector("#completion-code", timeout=60_000)
            codes[who] = page.text_content("#completion-code").strip()
            page.evaluate("gymkubeDebug.game?.stop()")
    return codes


def p2p_data(platform: Any) -> dict[str, Any]:
    data = platform.finish("pong-p2p")
    (episode,) = data["episodes"]
    steps = sorted(data["steps"], key=lambda r: r["step"])
    assert episode["mode"] == "p2p" and episode["status"] in ("terminated", "truncated")
    assert [r["step"] for r in steps] == list(range(1, episode["steps"] + 1))
    peers = json.loads(episode["p2p"])
    assert set(peers) == {"left", "right"}, peers  # both browsers reported the episode's end, and agreed on it
    for agent in ("left", "right"):  # each player's input timing comes from that player's own browser
        assert any(r[f"input_seq_{agent}"] is not None for r in steps)
    events = [r for r in data["events"] if r["kind"].startswith("p2p_")]
    return {"episode": episode, "steps": steps, "peers": peers, "events": events, "sessions": data["sessions"]}


def transports(events: list[dict[str, Any]]) -> set[tuple[str, str | None]]:
    seen = set()
    for row in events:
        if row["kind"] == "p2p_transport":
            detail = json.loads(row["detail"])
            seen.add((detail["via"], detail.get("address")))
    return seen


def assert_peers_agree(data: dict[str, Any]) -> None:
    assert all(r["peers_reported"] == 2 for r in data["steps"])
    assert not [r["step"] for r in data["steps"] if r["peers_disagree"]]
    assert data["episode"]["peer_disagreements"] == 0


def manifest(tmp_path: Path, **p2p: Any) -> Path:
    settings = {"inputDelay": 2, "maxPrediction": 8, "hashEvery": 30, "connectTimeoutS": 6} | p2p
    return quick_manifest(tmp_path, "pong_p2p.yaml", episodes=1, maxSteps=150, countdownS=1, p2p=settings)


def test_two_browsers_play_over_a_direct_datachannel(platform_factory, tmp_path: Path):
    platform = platform_factory(manifest(tmp_path))
    codes = play_pair(platform, tmp_path, LOOPBACK_ONLY)
    data = p2p_data(platform)
    assert_peers_agree(data)
    seen = transports(data["events"])  # per peer: "local > remote" address of the pair in use (either may be blank)
    remote = {(route or "").partition(">")[2].strip() for _, route in seen} - {"", "?"}
    # LOOPBACK_ONLY lets only the peer's 127.0.0.1 candidates through, and the stats agree (the local end may be
    # this machine's other address: the kernel routes it to loopback; a prflx remote may have no address)
    assert {via for via, _ in seen} == {"direct"} and remote == {"127.0.0.1"}, seen
    assert all(
        p["transport"] == {("right" if agent == "left" else "left"): "direct"} for agent, p in data["peers"].items()
    )
    assert all(p["rtt_ms_median"] is not None and p["rtt_ms_median"] < 100 for p in data["peers"].values())
    assert {s["participant"]: s["completion_code"] for s in data["sessions"] if s["status"] == "completed"} == codes


def test_two_browsers_play_relay_only_through_coturn_with_the_pods_credentials(platform_factory, tmp_path: Path):
    with turnserver(tmp_path / "turn") as turn:
        platform = platform_factory(manifest(tmp_path), env=turn.pod_env())
        play_pair(platform, tmp_path, RELAY_ONLY)
        data = p2p_data(platform)
    assert_peers_agree(data)
    seen = transports(data["events"])
    local = {(route or "").partition(">")[0].strip() for _, route in seen} - {"", "?"}
    assert {via for via, _ in seen} == {"turn"} and local == {"127.0.0.1"}, seen  # coturn's relay address


def test_a_path_killed_mid_game_is_mended_and_the_game_goes_on(platform_factory, tmp_path: Path):
    with turnserver(tmp_path / "turn") as turn:
        platform = platform_factory(
            # 20 s of play: the path breaks about 7 s in (Chromium's consent checks) and is mended a second later
            quick_manifest(tmp_path, "pong_p2p.yaml", episodes=1, maxSteps=600, countdownS=1,
                           environment={"entryPoint": "pong_env:make_env", "kwargs": {"max_misses": 1000}},
                           p2p={"inputDelay": 2, "maxPrediction": 8, "hashEvery": 30, "connectTimeoutS": 6}),
            env=turn.pod_env(),
        )  # fmt: skip

        def kill_the_path(pages: dict[str, Any]) -> None:
            for page in pages.values():  # both on coturn's relay first
                page.wait_for_function("() => Object.values(gymkubeDebug.game.mesh.transports())[0]?.[0] === 'turn'")
            turn.stop()  # every relayed path is gone; the pod carries the packets until the path is mended
            for page in pages.values():
                page.wait_for_function(
                    "() => Object.values(gymkubeDebug.game.mesh.transports())[0]?.[0] === 'relay'", timeout=30_000
                )
            turn.start()  # the same address and secret: an ICE restart finds it again
            for page in pages.values():
                page.wait_for_function(
                    "() => Object.values(gymkubeDebug.game.mesh.transports())[0]?.[0] === 'turn'", timeout=30_000
                )

        play_pair(platform, tmp_path, RELAY_ONLY, during=kill_the_path)
        data = p2p_data(platform)
    assert_peers_agree(data)  # every step by both browsers, through the outage
    for agent in ("left", "right"):
        changes = [json.loads(r["detail"])["via"] for r in data["events"] if r["kind"] == "p2p_transport"
                   and json.loads(r["detail"])["agent"] == agent]  # fmt: skip
        assert changes == ["turn", "relay", "turn"], (agent, changes)
    kinds = {r["kind"] for r in data["events"]}
    assert {"p2p_path_broken", "p2p_ice_restart", "p2p_path_mended"} <= kinds, kinds


def test_without_webrtc_the_inputs_go_through_the_pod_and_the_game_goes_on(platform_factory, tmp_path: Path):
    platform = platform_factory(manifest(tmp_path, connectTimeoutS=2))
    play_pair(platform, tmp_path, NO_WEBRTC)
    data = p2p_data(platform)
    assert_peers_agree(data)
    assert {via for via, _ in transports(data["events"])} == {"relay"}


def test_late_inputs_are_rolled_back_and_a_desync_is_resynchronised(platform_factory, tmp_path: Path):
    platform = platform_factory(manifest(tmp_path, hashEvery=10))

    def disturb(pages: dict[str, Any]) -> None:
        for page in pages.values():
            page.evaluate("gymkubeDebug.sendDelayMs = 120")  # ~4 frames late: beyond the 2-frame input delay
        for page in pages.values():  # the peer that is not the authority (left) gets a corrupted state
            if page.evaluate("gymkubeDebug.game.agent") == "right":
                page.evaluate("gymkubeDebug.perturb()")

    play_pair(platform, tmp_path, during=disturb)
    data = p2p_data(platform)
    assert all(p["rollbacks"] > 0 and p["max_rollback"] <= 8 for p in data["peers"].values()), data["peers"]
    kinds = {r["kind"] for r in data["events"]}
    assert {"p2p_perturbed", "p2p_desync", "p2p_resync_sent", "p2p_resync"} <= kinds, kinds
    # Rows confirmed from the corrupted state before the resync are flagged; the end is agreed by both.
    flagged = [r["step"] for r in data["steps"] if r["peers_disagree"]]
    assert flagged and data["episode"]["peer_disagreements"] == len(flagged)
    last = data["steps"][-1]
    assert last["peers_reported"] == 2 and last["peers_disagree"] is None


def test_a_reloaded_page_rejoins_and_the_pair_plays_the_episode_again(platform_factory, tmp_path: Path):
    platform = platform_factory(manifest(tmp_path))

    def reload(pages: dict[str, Any]) -> None:
        pages["eli"].reload()  # all of eli's game state in the page is gone
        pages["eli"].wait_for_selector("#scene[data-game-status='playing']", timeout=60_000)

    codes = play_pair(platform, tmp_path, during=reload)
    data = platform.finish("pong-p2p")
    episodes = sorted(data["episodes"], key=lambda e: e["episode"])
    assert [e["status"] for e in episodes][:1] == ["interrupted"] and episodes[-1]["status"] in (
        "terminated",
        "truncated",
    )
    assert [e["episode"] for e in episodes] == [1, 2]  # the interrupted episode is not counted: played again
    replayed = [r for r in data["steps"] if r["episode"] == 2]
    assert len(replayed) == episodes[-1]["steps"] and all(r["peers_reported"] == 2 for r in replayed[-20:])
    assert len({s["completion_code"] for s in data["sessions"] if s["status"] == "completed"}) == len(codes) == 2
