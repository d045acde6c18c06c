"""Fault: the S3 server is stopped for 30 s while participants play; not one row is lost.

Chunks stay in the pod's local spool while S3 is down (the admin view says so) and arrive once it
is back; progress that could not be saved is kept in memory and saved later. Participants notice
nothing: no notice, no pause, one row per tick throughout.

Thirty seconds outlast every retry and timeout on the data path many times over (a flush each second,
progress retried every 2 s, S3's 3 s connect timeout with 3 attempts) and spool dozens of chunks.
GYMKUBE_OUTAGE_S sets another length (play lengthens with it): 60 for a minute.
"""

from __future__ import annotations

import asyncio
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import quick_manifest
from datacheck import assert_one_row_per_tick

from gymkube.bot import ParticipantBot
from gymkube.storage.export import read_tables

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from s3server import find_weed, seaweed_s3  # noqa: E402

pytestmark = pytest.mark.skipif(find_weed() is None, reason="weed is installed with the dev extras")

FPS = 30
OUTAGE_S = float(os.environ.get("GYMKUBE_OUTAGE_S", "30"))
STEPS = 200
# The outage starts 3 s into play and play outlasts it by over 10 s: 7 episodes for 30 s, 12 (80 s) for 60 s.
EPISODES = math.ceil((OUTAGE_S + 16) * FPS / STEPS)


def test_half_a_minute_without_s3_loses_no_row(platform_factory, tmp_path: Path):
    with seaweed_s3(tmp_path / "s3") as server:
        env = server.platform_env("study", "gymkube")
        manifest = quick_manifest(tmp_path, "forage_ai.yaml", episodes=EPISODES, maxSteps=STEPS, fps=FPS)
        platform = platform_factory(manifest, env=env)

        async def play_through_the_outage() -> tuple[list[ParticipantBot], dict]:
            bots = [ParticipantBot(platform.entry("forage-ai", PROLIFIC_PID=f"out{i}"), seed=i) for i in range(3)]
            runs = [asyncio.create_task(bot.run(240)) for bot in bots]
            for bot in bots:
                await bot.wait_for_states(3 * FPS)
            down_at = time.monotonic()
            await asyncio.to_thread(server.stop)
            await asyncio.sleep(OUTAGE_S / 2)
            overview = await asyncio.to_thread(platform.admin_overview)
            await asyncio.sleep(OUTAGE_S - (time.monotonic() - down_at))
            assert not any(bot.done.is_set() for bot in bots), "play outlasts the outage"
            await asyncio.to_thread(server.start)
            return list(await asyncio.gather(*runs)), overview

        bots, overview = asyncio.run(play_through_the_outage())
        assert all(bot.completion_code for bot in bots), "every participant finished"
        assert not any(bot.notices for bot in bots), "nobody was told of trouble"
        (pod,) = overview["experiments"][0]["pods"]
        assert pod["spooled_chunks"] >= 10, "the admin view shows chunks waiting in the spool"
        assert pod["storage_error"].startswith("upload failed"), pod["storage_error"]
        platform.stop()
        assert b"storage unavailable, keeping chunks in the spool" in platform.log_path.read_bytes()
        assert b"storage reachable again" in platform.log_path.read_bytes()

        storage = server.storage("study", "gymkube")
        data = {name: table.to_pylist() for name, table in read_tables(storage, "forage-ai").items()}
        episodes = [e for e in data["episodes"] if e.get("steps") is not None]
        # Zero rows lost: every episode of every participant, each with all its steps.
        assert len(episodes) == len(bots) * EPISODES
        assert {e["status"] for e in episodes} == {"truncated"}
        assert len(data["steps"]) == sum(e["steps"] for e in episodes) == len(bots) * EPISODES * STEPS
        assert_one_row_per_tick(data["steps"], episodes, fps=FPS)
        sessions = {s["participant"]: s for s in data["sessions"]}
        assert all(sessions[f"out{i}"]["completion_code"] == bot.completion_code for i, bot in enumerate(bots))
        # The saved progress is the final one (it was saved after S3 came back).
        from gymkube.game_pod.progress import load_progress

        assert all(load_progress(storage, "forage-ai", f"out{i}").status == "completed" for i in range(len(bots)))  # type: ignore[union-attr]

        cli_env = {**os.environ, **env}
        for command in ("check", "replay"):
            result = subprocess.run(
                [sys.executable, "-m", "gymkube", command, "forage-ai", "--data", "s3://study/gymkube"],
                capture_output=True, text=True, env=cli_env, timeout=300,
            )  # fmt: skip
            assert result.returncode == 0, result.stdout + result.stderr
