"""The Overcooked examples end to end with bots: cogrid's kitchen, the ONNX chef, check and replay at 100%."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import yaml
from conftest import EXAMPLES, quick_manifest
from datacheck import assert_one_row_per_tick, expected_human_actions, steps_by_episode

from gymkube.bot import ParticipantBot

KEYS = {"ArrowUp": 0, "ArrowDown": 1, "ArrowLeft": 2, "ArrowRight": 3, " ": 4}
STILL = 6


def test_a_participant_cooks_beside_the_onnx_chef_and_the_data_checks_and_replays(platform_factory, tmp_path):
    platform = platform_factory(quick_manifest(tmp_path, "overcooked_ai.yaml", episodes=2, maxSteps=150, fps=30))
    bot = asyncio.run(ParticipantBot(platform.entry("overcooked-ai", PROLIFIC_PID="cook1"), seed=3).run(90))
    assert bot.completion_code and bot.agent == "chef_blue"
    assert any(o.get("atlas") == "kitchen" for o in bot.first_state["u"]), "the kitchen is drawn with sprites"
    data = platform.finish("overcooked-ai")  # `gymkube check` clean, `gymkube replay` 100%
    assert [e["status"] for e in data["episodes"]] == ["truncated", "truncated"]
    assert {e["env"] for e in data["episodes"]} == {"Overcooked-CrampedRoom-V0"}
    assert_one_row_per_tick(data["steps"], data["episodes"], fps=30)
    for rows in steps_by_episode(data["steps"]).values():
        assert {r["source_chef_green"] for r in rows} == {"policy"}
        assert expected_human_actions(rows, "chef_blue", bot.inputs, KEYS, STILL) == [
            (r["action_chef_blue"], r["source_chef_blue"]) for r in rows
        ]
    # The AI chef cooks: onions go into the pot (3 points each for both chefs; a soup served, 20).
    assert sum(r["reward_chef_green"] for r in data["steps"]) > 0


def test_two_participants_cook_together_and_the_data_checks_and_replays(platform_factory, tmp_path):
    manifest = quick_manifest(tmp_path, "overcooked_pairs.yaml", episodes=1, maxSteps=120, fps=30)
    document = yaml.safe_load(manifest.read_text())
    document["spec"]["scenes"][2]["group"] |= {"maxLatencyMs": None, "maxWaitS": 30}
    manifest.write_text(yaml.safe_dump(document, sort_keys=False))
    platform = platform_factory(manifest)

    async def main() -> list[ParticipantBot]:
        bots = [ParticipantBot(platform.entry("overcooked-pairs", PROLIFIC_PID=f"p{i}"), seed=i) for i in range(2)]
        return list(await asyncio.gather(*(bot.run(90) for bot in bots)))

    bots = asyncio.run(main())
    assert sorted(b.agent for b in bots) == ["chef_blue", "chef_green"]
    assert all(b.completion_code and b.end_reason is None for b in bots)
    data = platform.finish("overcooked-pairs")
    (episode,) = data["episodes"]
    assert episode["status"] == "truncated" and episode["steps"] == 120
    players = json.loads(episode["players"])
    assert {players[a]["participant"] for a in ("chef_blue", "chef_green")} == {"p0", "p1"}
    for rows in steps_by_episode(data["steps"]).values():
        for bot in bots:
            assert bot.agent is not None
            expected = expected_human_actions(rows, bot.agent, bot.inputs, KEYS, STILL)
            assert [(r[f"action_{bot.agent}"], r[f"source_{bot.agent}"]) for r in rows] == expected


def test_the_example_policy_serves_soups(tmp_path: Path) -> None:
    """make_policy.py's own check of the checked-in policy.onnx: it serves soups beside a cook and a wanderer."""
    sys.path.insert(0, str(EXAMPLES / "overcooked"))
    try:
        import make_policy

        served = make_policy.check(EXAMPLES / "overcooked" / "policy.onnx")
    finally:
        sys.path.remove(str(EXAMPLES / "overcooked"))
        for module in ("make_policy", "scripted_chef"):
            sys.modules.pop(module, None)
    assert served["cook"] >= 3 and served["wander"] >= 1, served


def test_the_sprites_are_the_ones_make_sprites_draws(tmp_path: Path) -> None:
    sys.path.insert(0, str(EXAMPLES / "overcooked"))
    try:
        import make_sprites

        sheet, frames = make_sprites.build()
    finally:
        sys.path.remove(str(EXAMPLES / "overcooked"))
        sys.modules.pop("make_sprites", None)
    from PIL import Image, ImageChops

    with Image.open(EXAMPLES / "overcooked" / "sprites.png") as stored:
        assert ImageChops.difference(stored.convert("RGBA"), sheet).getbbox() is None, "run make_sprites.py"
    assert json.loads((EXAMPLES / "overcooked" / "sprites.json").read_text()) == frames
