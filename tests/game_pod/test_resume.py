"""Reloads, dropped connections, second tabs and forged links, as participants cause them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import quick_manifest

from gymkube.bot import ParticipantBot


def test_coming_back_through_the_link_resumes_at_the_scene_the_participant_was_in(platform_factory, tmp_path: Path):
    platform = platform_factory(quick_manifest(tmp_path, "cartpole.yaml", maxSteps=20))
    url = platform.entry("cartpole", PROLIFIC_PID="returner")

    async def main() -> tuple[ParticipantBot, ParticipantBot]:
        first = await ParticipantBot(url, stop_at="instructions").run(30)
        second = await ParticipantBot(url, seed=5).run(60)
        return first, second

    first, second = asyncio.run(main())
    assert [s["id"] for s in first.scenes] == ["consent", "instructions"]
    assert second.scenes[0]["id"] == "instructions" and second.resumed[0] is True
    assert second.completion_code
    platform.stop()
    session = platform.tables("cartpole")["sessions"][0]
    assert session["connects"] == 2 and session["status"] == "completed"


def test_a_dropped_connection_rejoins_the_same_game_within_the_grace_period(platform_factory, tmp_path: Path):
    manifest = quick_manifest(tmp_path, "forage_ai.yaml", episodes=1, maxSteps=60, fps=30)
    platform = platform_factory(manifest)

    async def main() -> tuple[ParticipantBot, ParticipantBot, dict]:
        bot = ParticipantBot(platform.entry("forage-ai"))
        await bot.enter()
        await bot.connect()
        await bot.wait_for_states(20)
        await bot.sio.disconnect()
        left_at = dict(bot.last_state or {})
        await asyncio.sleep(1.0)
        back = await bot.twin().run(60)
        return bot, back, left_at

    bot, back, left_at = asyncio.run(main())
    assert back.first_state is not None and back.first_state["g"] == left_at["g"]
    assert back.first_state["f"] >= left_at["f"]
    assert back.completion_code
    platform.stop()
    data = platform.tables("forage-ai")
    (episode,) = data["episodes"]
    assert episode["status"] == "truncated" and episode["steps"] == 60
    assert [r["step"] for r in data["steps"]] == list(range(1, 61))
    kinds = [e["kind"] for e in data["events"]]
    assert kinds.index("disconnect") < kinds.index("reconnect")


def test_past_the_grace_period_the_episode_is_recorded_as_abandoned(platform_factory, tmp_path: Path):
    manifest = quick_manifest(tmp_path, "forage_ai.yaml", episodes=2, maxSteps=30, fps=30, reconnectGraceS=0.5)
    platform = platform_factory(manifest)

    async def main() -> ParticipantBot:
        bot = ParticipantBot(platform.entry("forage-ai"))
        await bot.enter()
        await bot.connect()
        await bot.wait_for_states(10)
        await bot.sio.disconnect()
        await asyncio.sleep(2.0)
        return await bot.twin().run(60)

    back = asyncio.run(main())
    assert back.completion_code
    platform.stop()
    data = platform.tables("forage-ai")
    statuses = {e["episode"]: e["status"] for e in data["episodes"]}
    assert statuses == {1: "abandoned", 2: "truncated"}
    assert "abandoned" in [e["kind"] for e in data["events"]]


def test_a_second_tab_is_refused_and_the_first_plays_on(platform_factory, tmp_path: Path):
    platform = platform_factory(quick_manifest(tmp_path, "forage_ai.yaml", episodes=1, maxSteps=45))

    async def main() -> tuple[ParticipantBot, ParticipantBot]:
        first = ParticipantBot(platform.entry("forage-ai"))
        await first.enter()
        running = asyncio.create_task(first.run(60))
        await first.wait_for_states(5)
        second = await first.twin().run(10)
        await running
        return first, second

    first, second = asyncio.run(main())
    assert second.refused is not None and second.refused["reason"] == "duplicate"
    assert "another tab" in second.refused["message"]
    assert first.completion_code


def test_a_forged_link_is_refused(platform_factory, tmp_path: Path):
    platform = platform_factory(quick_manifest(tmp_path, "cartpole.yaml"))

    async def main() -> ParticipantBot:
        bot = ParticipantBot(platform.entry("cartpole", PROLIFIC_PID="honest"))
        await bot.enter()
        forged = bot.twin()
        body, signature = bot.token.split(".")
        forged.token = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + signature
        return await forged.run(10)

    forged = asyncio.run(main())
    assert forged.refused is not None and forged.refused["reason"] == "token"
    assert forged.scenes == []
