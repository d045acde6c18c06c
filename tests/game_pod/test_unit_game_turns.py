"""A Game in `turn` mode and with code for its HUD: steps wait for presses (of every player here), a wait is
bounded by the turn timeout, and the heads-up line comes from hooks, a function or the environment, sent when
it changes."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_unit_game import TINY_BUNDLE, Clock, Ticker, experiment_scene, new_game, states, tiny_scene

from gymkube.game_pod import game as game_module
from gymkube.game_pod.game import Status

ROOT = Path(__file__).resolve().parents[2]
TURN = {"keys": {"ArrowLeft": 0, "ArrowRight": 2}, "defaultAction": 1, "mode": "turn", "turnTimeoutS": 5}


def press(game: Any, key: str, seq: int, agent: str | None = None) -> None:
    agent = agent or game.human.agent
    game.on_input(agent, key, True, seq, None, None, episode=game.episode)
    game.on_input(agent, key, False, seq + 1, None, None, episode=game.episode)


def test_a_turn_based_game_steps_once_per_press_and_records_the_wait(monkeypatch: pytest.MonkeyPatch):
    clock = Clock(500.0)
    monkeypatch.setattr(game_module.time, "monotonic", clock)
    game, recorder = new_game(tiny_scene(controls=TURN, maxSteps=5))
    ticker = Ticker(game)
    ticker.until_playing()
    clock.now += 1.5
    ticker.tick(30)  # a second of ticks and no key: no step
    assert recorder.table("steps") == []
    press(game, "ArrowRight", 1)
    ticker.tick(5)
    (step,) = recorder.table("steps")
    assert (step["action_agent"], step["source_agent"], step["turn_wait_ms"]) == (2, "human", 1500.0)
    clock.now += 0.25
    press(game, "ArrowLeft", 3)
    press(game, "ArrowRight", 5)  # two presses: two steps, one per tick
    ticker.tick(5)
    rows = recorder.table("steps")
    assert [(r["step"], r["action_agent"]) for r in rows] == [(1, 2), (2, 0), (3, 2)]
    assert [r["turn_wait_ms"] for r in rows[1:]] == [250.0, 0.0]


def test_a_turn_without_a_press_is_played_with_the_default_action_after_the_timeout(monkeypatch: pytest.MonkeyPatch):
    clock = Clock(500.0)
    monkeypatch.setattr(game_module.time, "monotonic", clock)
    game, recorder = new_game(tiny_scene(controls=TURN, maxSteps=5))
    ticker = Ticker(game)
    ticker.until_playing()
    clock.now += 4.9
    ticker.tick(3)
    assert recorder.table("steps") == []
    clock.now += 0.1
    ticker.tick(3)
    (step,) = recorder.table("steps")
    assert (step["action_agent"], step["source_agent"], step["turn_wait_ms"]) == (1, "timeout", 5000.0)


def test_a_pause_restarts_the_turns_wait(monkeypatch: pytest.MonkeyPatch):
    clock = Clock(500.0)
    monkeypatch.setattr(game_module.time, "monotonic", clock)
    game, recorder = new_game(tiny_scene(controls=TURN, maxSteps=5, countdownS=1))
    ticker = Ticker(game)
    clock.now += 1
    ticker.until_playing()
    game.pause()
    clock.now += 60  # away for longer than the timeout: no step is forced while paused
    game.resume()
    clock.now += 3
    ticker.until_playing()
    ticker.tick(3)
    assert recorder.table("steps") == []


def group_turn_scene() -> Any:
    document = yaml.safe_load((ROOT / "examples" / "forage_human_human.yaml").read_text())
    document["spec"]["bundle"] = str(ROOT / "examples" / "forage")
    for scene in document["spec"]["scenes"]:
        if scene["type"] == "gym":
            scene["controls"] |= {"mode": "turn", "turnTimeoutS": 30}
            scene.update(countdownS=0, episodes=1, maxSteps=10, seed=1)
    return experiment_scene(document)


def test_a_group_turn_waits_for_every_player_here_but_not_for_one_who_is_away():
    game, recorder = new_game(group_turn_scene(), ROOT / "examples" / "forage")
    ticker = Ticker(game)
    ticker.until_playing()
    press(game, "ArrowUp", 1, "blue")
    ticker.tick(10)
    assert recorder.table("steps") == []  # red has not moved yet
    press(game, "ArrowDown", 1, "red")
    ticker.tick(2)
    (step,) = recorder.table("steps")
    assert (step["source_blue"], step["source_red"]) == ("human", "human")
    game.set_present("red", False)
    press(game, "ArrowLeft", 3, "blue")
    ticker.tick(2)
    assert [(r["source_blue"], r["source_red"]) for r in recorder.table("steps")][1:] == [("human", "absent")]


HUD_CODE = """
class Talks:
    def on_step(self, step, **_):
        return {"hud": f"hook at {step}"} if step >= 3 else None


def line(env):
    return f"at {env.position:.0f}"
"""


def bundle_with_hud_code(tmp_path: Path) -> Path:
    bundle = tmp_path / "bundle"
    shutil.copytree(TINY_BUNDLE, bundle)
    (bundle / "hud_code.py").write_text(HUD_CODE)
    return bundle


def test_the_hud_comes_from_a_function_then_from_the_hooks_and_is_sent_only_when_it_changes(tmp_path: Path):
    bundle = bundle_with_hud_code(tmp_path)
    game, _ = new_game(tiny_scene(hud={"function": "hud_code:line"}, hooks="hud_code:Talks", maxSteps=6), bundle)
    ticker = Ticker(game)
    ticker.until_playing()
    (first,) = states(game)
    start = game.env.unwrapped.position
    assert first["hud"] == f"at {start:.0f}"
    huds = []
    for _ in range(5):
        ticker.tick()
        huds.extend(s["hud"] for s in states(game))
    # Default action 1 keeps the position: the function's text does not change and is not sent again,
    # until the hooks speak from step 3 on (their text wins), each new text once.
    assert huds == [None, None, "hook at 3", "hook at 4", "hook at 5"]
    game.resume()  # a page that came back gets the line again
    ticker.tick()
    assert [s["hud"] for s in states(game)] == ["hook at 6"]


def test_the_hud_from_the_environments_hud_text(tmp_path: Path):
    bundle = bundle_with_hud_code(tmp_path)
    (bundle / "talking_env.py").write_text(  # a module name of its own: tiny_env is imported already
        "from tiny_env import TinyEnv\n\n\nclass Talking(TinyEnv):\n    def hud_text(self):\n"
        "        return f'steps {self.steps}'\n\n\ndef make(**kwargs):\n    return Talking(**kwargs)\n"
    )
    scene = tiny_scene(hud={"environment": True}, maxSteps=3)
    environment = scene.environment.model_copy(update={"entry_point": "talking_env:make"})
    game, _ = new_game(scene.model_copy(update={"environment": environment}), bundle)
    ticker = Ticker(game)
    ticker.until_over()
    assert [s["hud"] for s in states(game)] == ["steps 0", "steps 1", "steps 2", "steps 3"]
    assert game.status == Status.DONE
