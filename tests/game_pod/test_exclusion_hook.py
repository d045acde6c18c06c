"""`spec.exclusion.hook`: the researcher's own rule, called on the pod at entry with the measured round trip
and every few seconds of play with focus and visibility; it ends a session with an ending and a message."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import yaml
from conftest import quick_manifest

from gymkube.bot import ParticipantBot

RULES = """
def screen(m):
    if m["phase"] == "entry" and m["latency_ms"] is not None and m["latency_ms"] > 200:
        return {"ending": "excluded", "reason": "slow connection",
                "message": "<p>Your connection is too slow for this study.<script>alert(1)</script></p>"}
    if m["phase"] == "play" and (m["focus_losses"] >= 1 or not m["focused"]):
        return {"ending": "technical", "message": "Please keep this window in front."}
    return None


def broken(m):
    raise ValueError("oops " + m["phase"])
"""


def manifest(tmp_path: Path, hook: str, episodes: int = 1) -> Path:
    bundle = tmp_path / "bundle"
    bundle.mkdir(exist_ok=True)
    (bundle / "rules.py").write_text(RULES)
    path = quick_manifest(tmp_path, "cartpole.yaml", episodes=episodes, maxSteps=200)
    document = yaml.safe_load(path.read_text())
    document["spec"] |= {"bundle": str(bundle), "exclusion": {"hook": hook, "everyS": 1}}
    path.write_text(yaml.safe_dump(document))
    return path


def test_a_slow_connection_is_excluded_at_entry_with_the_hooks_message(platform_factory, tmp_path: Path):
    platform = platform_factory(manifest(tmp_path, "rules:screen"))

    async def main() -> tuple[ParticipantBot, ParticipantBot]:
        slow = ParticipantBot(platform.entry("cartpole", PROLIFIC_PID="slow"), extra_rtt_ms=400)
        fast = ParticipantBot(platform.entry("cartpole", PROLIFIC_PID="fast"), seed=1)
        await asyncio.gather(slow.run(60), fast.run(60))
        return slow, fast

    slow, fast = asyncio.run(main())
    assert slow.end_reason == "excluded" and slow.completion_code.startswith("EXCL")
    shown = slow.scenes[-1]["html"]
    assert "too slow for this study" in shown and "<script" not in shown  # the message, sanitised
    assert fast.end_reason is None and fast.completion_code
    platform.stop()
    data = platform.tables("cartpole")
    platform.assert_data_sound("cartpole")
    (event,) = [e for e in data["events"] if e["kind"] == "excluded"]
    assert event["participant"] == "slow"
    assert json.loads(event["detail"]) == {"by": "hook", "phase": "entry", "reason": "slow connection",
                                           "ending": "excluded"}  # fmt: skip
    rows = {s["participant"]: s for s in data["sessions"]}
    assert rows["slow"]["end_reason"] == "excluded" and "too slow" in rows["slow"]["end_message"]
    assert not [s for s in data["steps"] if s["participant"] == "slow"]  # never reached the game


def test_leaving_the_window_during_play_ends_the_game_with_the_ending_the_hook_names(platform_factory, tmp_path):
    platform = platform_factory(manifest(tmp_path, "rules:screen", episodes=20))  # plays for longer than a check

    async def main() -> ParticipantBot:
        bot = ParticipantBot(platform.entry("cartpole", PROLIFIC_PID="wanders"))
        task = asyncio.create_task(bot.run(60))
        await bot.wait_for_states(10)
        await bot.sio.emit("telemetry", {"kind": "focus", "state": "blur", "t": 0})
        await task
        return bot

    bot = asyncio.run(main())
    assert bot.end_reason == "technical" and bot.completion_code.startswith("TECH")
    assert "keep this window in front" in bot.scenes[-1]["html"]
    data = platform.finish("cartpole")
    (event,) = [e for e in data["events"] if e["kind"] == "excluded"]
    assert json.loads(event["detail"])["phase"] == "play"
    # The game stopped there (an episode under way is recorded as excluded); nothing was played after it.
    statuses = {e["status"] for e in data["episodes"]}
    assert len(data["episodes"]) < 20 and statuses <= {"terminated", "truncated", "excluded"}
    assert max(r["t_tick_ns"] for r in data["steps"]) < event["t_ns"]


def test_an_exclusion_hook_that_raises_is_recorded_once_and_everyone_goes_on(platform_factory, tmp_path: Path):
    platform = platform_factory(manifest(tmp_path, "rules:broken"))

    async def main() -> ParticipantBot:
        return await ParticipantBot(platform.entry("cartpole", PROLIFIC_PID="p1")).run(60)

    bot = asyncio.run(main())
    assert bot.end_reason is None and bot.completion_code
    data = platform.finish("cartpole")
    (error,) = [e for e in data["events"] if e["kind"] == "hook_error"]
    assert json.loads(error["detail"])["method"] == "exclusion" and "oops entry" in json.loads(error["detail"])["error"]
