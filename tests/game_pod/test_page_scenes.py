"""Static pages over real socket.io: bots pass a consent gate; what a modified browser sends is refused."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from conftest import quick_manifest

from gymkube.bot import ParticipantBot
from gymkube.game_pod.protocol import Event


def test_bots_pilot_the_scripted_consent_example_and_a_page_without_consent_is_refused(
    platform_factory, tmp_path: Path
):
    platform = platform_factory(quick_manifest(tmp_path, "scripted_consent.yaml", maxSteps=10))

    async def refused_then_pilot() -> tuple[list[dict[str, object]], ParticipantBot]:
        prober = ParticipantBot(platform.entry("scripted-consent", PROLIFIC_PID="modified"), stop_at="consent")
        await prober.run(30)
        await prober.connect()  # back on the consent page, sending what a modified browser would
        acks = []
        for answers in (
            None,
            {"consent": False},
            {f"f{i}": "x" for i in range(1000)},
            {"consent": True, "essay": "x" * 20_000},
            {"consent": True, "contact_later": {"nested": 1}},
        ):
            acks.append(await prober.sio.call(Event.SCENE_DONE, {"scene": "consent", "answers": answers}, timeout=10))
        await prober.disconnect()
        bot = ParticipantBot(platform.entry("scripted-consent", PROLIFIC_PID="pilot"))
        return acks, await bot.run(60)

    acks, bot = asyncio.run(refused_then_pilot())
    assert [ack["ok"] for ack in acks] == [False] * 5
    assert acks[0]["errors"] == acks[1]["errors"] == {"consent": "Please fill in 'consent'."}
    unreadable = {"_": "The page's answers could not be read; please try again."}
    assert all(ack["errors"] == unreadable for ack in acks[2:]), acks
    assert bot.completion_code and bot.scenes[0]["required"] == ["consent"]

    platform.stop()
    scenes = platform.tables("scripted-consent")["scenes"]
    recorded = {(r["participant"], r["scene"]): r["answers"] for r in scenes}
    assert json.loads(recorded["pilot", "consent"]) == {"consent": True}
    assert recorded["pilot", "about-you"] is None  # a bot fills in no undeclared field
    assert ("modified", "consent") not in recorded, "nothing refused was recorded"
