"""examples/mountain_car.yaml (shapes) and examples/lunar_lander.yaml (Box2D, rgb frames) played by bots."""

from __future__ import annotations

import asyncio

import pytest
from conftest import quick_manifest
from datacheck import assert_one_row_per_tick

from gymkube.bot import ParticipantBot


@pytest.mark.parametrize(
    ("example", "name", "kind"),
    [("mountain_car.yaml", "mountain-car", "o"), ("lunar_lander.yaml", "lunar-lander", "img")],
)
def test_a_bot_plays_the_example_and_its_data_checks_and_replays(platform_factory, tmp_path, example, name, kind):
    platform = platform_factory(quick_manifest(tmp_path, example, episodes=1, maxSteps=60))
    bot = asyncio.run(ParticipantBot(platform.entry(name, PROLIFIC_PID="b1"), seed=1).run(60))
    assert bot.completion_code
    assert bot.last_state is not None and bot.last_state.get(kind), f"frames carry {kind!r}"
    if kind == "img":
        assert bot.last_state["fmt"] == "image/jpeg" and bot.last_state["img"][:2] == b"\xff\xd8"
    data = platform.finish(name)  # check clean, replay 100%
    assert_one_row_per_tick(data["steps"], data["episodes"], fps=30)
    assert {r["source_driver" if name == "mountain-car" else "source_pilot"] for r in data["steps"]} <= {
        "human",
        "default",
    }
