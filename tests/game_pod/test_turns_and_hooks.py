"""Bots play the turn-based treasure grid on the pod: one step per press, waits and timeouts recorded, the
scene's hooks' columns and bonus in the data, the HUD from the environment, and the data replays."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import yaml
from conftest import EXAMPLES, quick_manifest

from gymkube.bot import ParticipantBot

KEYS = {" ": 0, "ArrowUp": 1, "ArrowDown": 2, "ArrowLeft": 3, "ArrowRight": 4}


def play(platform, name: str, count: int, **options) -> list[ParticipantBot]:
    async def main() -> list[ParticipantBot]:
        bots = [ParticipantBot(platform.entry(name, PROLIFIC_PID=f"bot{i}"), seed=i, **options) for i in range(count)]
        return await asyncio.gather(*(bot.run(120) for bot in bots))

    return asyncio.run(main())


def test_each_press_is_one_step_and_the_game_waits_for_it(platform_factory, tmp_path: Path):
    manifest = quick_manifest(tmp_path, "treasure_grid.yaml", episodes=2, maxSteps=10)
    platform = platform_factory(manifest)
    bots = play(platform, "treasure-grid", 2, think_s=(0.08, 0.12))
    data = platform.finish("treasure-grid")  # check clean, replay 100%

    assert all(bot.completion_code for bot in bots)
    assert all(bot.hud and bot.hud.startswith("Treasures ") for bot in bots)  # the environment's hud_text()
    steps = data["steps"]
    by_participant = {f"bot{i}": bot for i, bot in enumerate(bots)}
    for row in steps:
        bot = by_participant[row["participant"]]
        (press,) = [i for i in bot.inputs if i.seq == row["input_seq_explorer"]]
        # The press the bot made while frame f of the episode was on screen is step f + 1: nothing else moved it.
        assert press.down and (press.episode, press.frame + 1) == (row["episode"], row["step"])
        assert row["action_explorer"] == KEYS[press.key] and row["source_explorer"] == "human"
        assert row["turn_wait_ms"] >= 80  # the bot thought at least 80 ms; the game waited for it
    episodes = data["episodes"]
    assert len(episodes) == 4
    for episode in episodes:
        assert episode["bonus"] == round(episode["score"] * 0.05, 2)  # the hooks' on_episode_end
        assert episode["hook_errors"] == 0
    rows = [r for r in steps if r["participant"] == "bot0"]
    assert all(isinstance(r["hook_nearest"], float) for r in rows if r["hook_nearest"] is not None)
    assert all(r["hook_moves_without_treasure"] >= 0 for r in rows)


def test_a_turn_without_a_press_times_out_with_the_default_action(platform_factory, tmp_path: Path):
    manifest = quick_manifest(tmp_path, "treasure_grid.yaml", episodes=1, maxSteps=4)
    document = yaml.safe_load(manifest.read_text())
    document["spec"]["scenes"][1]["controls"]["turnTimeoutS"] = 1
    manifest.write_text(yaml.safe_dump(document))
    platform = platform_factory(manifest)
    (bot,) = play(platform, "treasure-grid", 1, skip_turns=2)
    data = platform.finish("treasure-grid")

    assert bot.completion_code
    rows = sorted(data["steps"], key=lambda r: r["step"])
    assert [(r["source_explorer"], r["action_explorer"]) for r in rows[:2]] == [("timeout", 0), ("timeout", 0)]
    assert all(r["turn_wait_ms"] >= 1000 for r in rows[:2])
    assert {r["source_explorer"] for r in rows[2:]} == {"human"}


BROKEN_HOOKS = """
class Broken:
    def on_step(self, env, step, **_):
        if step % 2:
            raise RuntimeError(f"no luck at step {step}")
        return {"step_seen": step, "hud": f"Hook says {step}", "bad column": 1, "huge": "x" * 5000, "list": [1]}

    def on_episode_end(self, **_):
        return {"bonus": float("nan")}
"""


def test_a_hook_that_raises_is_recorded_once_and_the_game_goes_on(platform_factory, tmp_path: Path):
    bundle = tmp_path / "bundle"
    shutil.copytree(EXAMPLES / "treasure_grid", bundle)
    (bundle / "broken_hooks.py").write_text(BROKEN_HOOKS)
    manifest = quick_manifest(tmp_path, "treasure_grid.yaml", episodes=2, maxSteps=6, hooks="broken_hooks:Broken")
    document = yaml.safe_load(manifest.read_text())
    document["spec"]["bundle"] = str(bundle)
    manifest.write_text(yaml.safe_dump(document))
    platform = platform_factory(manifest)
    (bot,) = play(platform, "treasure-grid", 1)
    data = platform.finish("treasure-grid")

    assert bot.completion_code and bot.hud and bot.hud.startswith("Hook says ")  # on_step's HUD text wins
    errors = [e for e in data["events"] if e["kind"] == "hook_error"]
    assert len(errors) == 1, errors  # once per game, though it failed at every other step
    detail = json.loads(errors[0]["detail"])
    assert detail["method"] == "on_step" and "no luck at step 1" in detail["error"]
    steps = sorted(data["steps"], key=lambda r: (r["episode"], r["step"]))
    assert len(steps) == 12
    assert [r["hook_step_seen"] for r in steps[:4]] == [None, 2.0, None, 4.0]
    assert [r["hook_huge"] for r in steps if r["hook_huge"]] == ["x" * 200] * 6  # cut to 200 characters
    assert not any(k in steps[0] for k in ("hook_bad column", "hook_list", "hook_hud"))
    for episode in data["episodes"]:  # a NaN bonus is left out; 3 raises and 3 bad outputs in each episode
        assert episode["bonus"] is None and episode["hook_errors"] == 7


def test_a_game_waiting_for_a_key_does_not_hold_up_the_other_games_of_the_pod(platform_factory, tmp_path: Path):
    manifest = quick_manifest(tmp_path, "treasure_grid.yaml", episodes=1, maxSteps=10, reconnectGraceS=1)
    platform = platform_factory(manifest)

    async def main() -> tuple[ParticipantBot, ParticipantBot]:
        idle = ParticipantBot(platform.entry("treasure-grid", PROLIFIC_PID="idle"), skip_turns=10**6)
        active = ParticipantBot(platform.entry("treasure-grid", PROLIFIC_PID="active"), seed=1)
        idling = asyncio.create_task(idle.run(120))
        await active.run(60)  # both games tick in the same loop; the idle one waits for its key all along
        assert not idle.done.is_set() and idle.states == 1  # its first frame, and no step since
        idling.cancel()
        await asyncio.gather(idling, return_exceptions=True)
        await idle.disconnect()
        return idle, active

    idle, active = asyncio.run(main())
    assert active.completion_code and idle.completion_code is None
    platform.stop()
    steps = platform.tables("treasure-grid")["steps"]
    assert {r["participant"] for r in steps} == {"active"} and len(steps) == 10
