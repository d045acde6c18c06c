"""Stopping a game pod (Ctrl-C, a rollout) waits for the games being played, not for one whose participant left."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import yaml
from conftest import game_pod_process, quick_manifest

from gymkube.bot import ParticipantBot
from gymkube.integrity.check import check_experiment
from gymkube.keys import token_key
from gymkube.storage import LocalStorage
from gymkube.storage.export import read_tables
from gymkube.tokens import sign_token

SECRET = "drain-test-secret-" + "x" * 32


async def play_then_leave(port: int) -> ParticipantBot:
    bot = ParticipantBot("unused", seed=3)
    bot.pod_url = f"http://127.0.0.1:{port}/"
    bot.token = sign_token(token_key(SECRET), {"x": "mountain-car", "p": "leaver", "s": "s-leaver", "n": 0, "q": {}})
    await bot.connect()
    await bot.wait_for_states(30, timeout_s=60)
    await bot.disconnect()  # the tab is closed: the game pauses for the reconnect grace (ten minutes here)
    await asyncio.sleep(1.0)  # the pod sees the socket go
    return bot


def test_a_pod_stops_at_once_when_the_only_game_left_is_paused_and_records_it_interrupted(tmp_path: Path):
    document = yaml.safe_load(quick_manifest(tmp_path, "mountain_car.yaml", reconnectGraceS=600).read_text())
    with game_pod_process(tmp_path, document, secret=SECRET, drain_timeout_s="600") as port:
        bot = asyncio.run(play_then_leave(port))
        stopping = time.monotonic()
    # the block's end stopped the pod (SIGTERM, then at most 30 s: a drain waiting for the paused game
    # would have held it for the whole grace period and failed the block)
    took = time.monotonic() - stopping
    assert bot.states >= 30
    storage = LocalStorage(tmp_path / "storage")
    episodes = read_tables(storage, "mountain-car")["episodes"].to_pylist()
    assert [e["status"] for e in episodes] == ["interrupted"], episodes
    report = check_experiment(storage, "mountain-car")
    assert report.ok, report.problems
    print(f"the pod stopped {took:.1f} s after the participant left")
