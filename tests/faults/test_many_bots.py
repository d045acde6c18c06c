"""Fault: 200 participants at once over two pods, one in ten losing its connection and coming back.

No server error anywhere; every participant finishes with a code; `gymkube check` is clean and
every episode replays identically.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import yaml
from conftest import quick_manifest

from gymkube.bot import ParticipantBot

PARTICIPANTS = 200
FLAKY_SHARE = 0.1
FPS = 10


async def play(bot: ParticipantBot, rng: random.Random, flaky: bool) -> ParticipantBot:
    """One participant; a flaky one drops mid-game and comes back (as a reloaded page) within the grace."""
    if not flaky:
        return await bot.run(240)
    await bot.enter()
    await bot.connect()
    await bot.wait_for_states(2, timeout_s=120)  # in the game
    await asyncio.sleep(rng.uniform(0, 1.0))
    await bot.sio.disconnect()  # the line goes dead; the page does not say goodbye
    await asyncio.sleep(rng.uniform(0.2, 3.0))
    return await bot.twin().run(240)


def test_two_hundred_participants_with_one_in_ten_dropping_and_returning(platform_factory, tmp_path: Path):
    manifest = quick_manifest(tmp_path, "cartpole.yaml", episodes=2, maxSteps=60, fps=FPS)
    document = yaml.safe_load(manifest.read_text())
    document["spec"]["replicas"] = 2
    manifest.write_text(yaml.safe_dump(document, sort_keys=False))
    platform = platform_factory(manifest)
    rng = random.Random(7)
    flaky = set(rng.sample(range(PARTICIPANTS), int(PARTICIPANTS * FLAKY_SHARE)))

    async def everyone() -> list[ParticipantBot]:
        bots = [ParticipantBot(platform.entry("cartpole", PROLIFIC_PID=f"m{i}"), seed=i) for i in range(PARTICIPANTS)]
        tasks = []
        for i, bot in enumerate(bots):
            tasks.append(asyncio.create_task(play(bot, random.Random(i), i in flaky)))
            await asyncio.sleep(0.01)  # arrivals over two seconds, as after a Prolific launch
        return list(await asyncio.gather(*tasks))

    started = time.monotonic()
    finished = asyncio.run(everyone())
    print(f"{PARTICIPANTS} participants finished in {time.monotonic() - started:.1f} s")
    assert all(bot.completion_code for bot in finished), [b.entry_url for b in finished if not b.completion_code]
    platform.stop()

    log = platform.log_path.read_text()
    assert "ERROR" not in log and "Traceback" not in log, log[-3000:]
    data = platform.tables("cartpole")
    sessions = data["sessions"]
    assert len(sessions) == PARTICIPANTS and {s["status"] for s in sessions} == {"completed"}
    assert len({s["pod"] for s in sessions}) == 2, "both pods took participants"
    came_back = {s["participant"] for s in sessions if s["connects"] >= 2}
    assert came_back == {f"m{i}" for i in flaky}
    platform.assert_data_sound("cartpole")
