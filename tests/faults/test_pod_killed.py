"""Fault: a game pod SIGKILLed mid-episode loses at most about the last second of steps.

The participant comes back to the restarted pod at the scene they were in; the episode our crash
cut short is marked `interrupted` and played again; `gymkube check` is clean.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

from conftest import quick_manifest

from gymkube.bot import ParticipantBot
from gymkube.storage import LocalStorage
from gymkube.storage.export import read_tables

FPS = 30


def test_sigkill_mid_episode_keeps_every_step_older_than_a_second_and_the_participant_resumes(
    platform_factory, tmp_path: Path
):
    manifest = quick_manifest(tmp_path, "forage_ai.yaml", episodes=1, maxSteps=180, fps=FPS)
    platform = platform_factory(manifest)
    (pod_pid,) = platform.pod_pids()

    async def play_until_killed() -> tuple[ParticipantBot, int]:
        bot = ParticipantBot(platform.entry("forage-ai"))
        await bot.enter()
        await bot.connect()
        await bot.wait_for_states(4 * FPS)
        os.kill(pod_pid, signal.SIGKILL)
        frame_at_kill = int((bot.last_state or {})["f"])
        await asyncio.sleep(0.2)
        return bot, frame_at_kill

    bot, frame_at_kill = asyncio.run(play_until_killed())
    steps = read_tables(LocalStorage(platform.data_dir / "storage"), "forage-ai")["steps"].to_pylist()
    stored = [r["step"] for r in steps]
    assert stored == list(range(1, len(stored) + 1)), "what reached storage has no gaps"

    # The runtime restarts the pod; the participant comes back and the flow goes on.
    deadline = time.monotonic() + 20
    while not set(platform.pod_pids()) - {pod_pid} and time.monotonic() < deadline:
        time.sleep(0.2)
    back = asyncio.run(_return(bot))
    # They continue at the scene they were in and play the episode our crash cut short again.
    assert back.scenes[0]["type"] == "gym" and back.resumed[0] is True
    assert [s["type"] for s in back.scenes] == ["gym", "survey", "end"] and back.completion_code
    platform.stop()
    data = platform.tables("forage-ai")
    statuses = {e["episode"]: e["status"] for e in data["episodes"]}
    assert statuses == {1: "interrupted", 2: "truncated"}
    first = sorted(r["step"] for r in data["steps"] if r["episode"] == 1)
    # A chunk the killed pod had spooled but not yet uploaded is uploaded by the restarted pod:
    # the episode's rows are then more than were in storage right after the kill, never fewer or repeated.
    assert first[: len(stored)] == stored and first == list(range(1, len(first) + 1))
    lost = frame_at_kill - len(first)
    assert lost <= 1.5 * FPS, f"{lost} steps ({lost / FPS:.2f} s) were lost; the bound is about 1 s"
    assert sorted(r["step"] for r in data["steps"] if r["episode"] == 2) == list(range(1, 181))
    platform.assert_data_sound("forage-ai")


async def _return(bot: ParticipantBot) -> ParticipantBot:
    for _ in range(50):
        try:
            return await bot.twin().run(30)
        except Exception:  # the pod may not be listening yet
            await asyncio.sleep(0.2)
    raise AssertionError("the restarted pod never took the participant back")
