"""A Game stepped tick by tick: the rows researchers get and the frames participants see."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from gymkube.game_pod import game as game_module
from gymkube.game_pod.game import Game, Status
from gymkube.game_pod.protocol import Event
from gymkube.portable.common import flatten_info
from gymkube.spec import GymScene, load_experiments

ROOT = Path(__file__).resolve().parents[2]
TINY_BUNDLE = ROOT / "tests" / "fixtures" / "bundle"
FORAGE_BUNDLE = ROOT / "examples" / "forage"
TICK_NS = 1_000_000_000 // 30
HANG_GUARD = 10_000
JPEG_MAGIC = b"\xff\xd8"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def experiment_scene(document: dict[str, Any]) -> GymScene:
    (experiment,) = load_experiments(yaml.safe_dump(document, sort_keys=False))
    (scene,) = experiment.spec.gym_scenes()
    return scene


def tiny_scene(**overrides: Any) -> GymScene:
    scene: dict[str, Any] = {
        "type": "gym",
        "id": "tiny",
        "environment": {"entryPoint": "tiny_env:make", "kwargs": {"length": 10}},
        "players": {"agent": {"type": "human"}},
        "episodes": 1,
        "seed": 100,
        "countdownS": 0,
        "controls": {"keys": {"ArrowLeft": 0, "ArrowRight": 2}, "defaultAction": 1},
    }
    scene.update(overrides)
    return experiment_scene(
        {
            "apiVersion": "gymkube.io/v1alpha1",
            "kind": "Experiment",
            "metadata": {"name": "tiny"},
            "spec": {"bundle": str(TINY_BUNDLE), "scenes": [scene, {"type": "end"}]},
        }
    )


def forage_scene(red: dict[str, Any], seed: int = 7) -> GymScene:
    document = yaml.safe_load((ROOT / "examples" / "forage_ai.yaml").read_text())
    document["spec"]["bundle"] = str(FORAGE_BUNDLE)
    for scene in document["spec"]["scenes"]:
        if scene["type"] == "gym":
            scene.update(countdownS=0, episodes=1, maxSteps=40, seed=seed)
            scene["players"]["red"] = red
    return experiment_scene(document)


class Recorder:
    """Collects what the game records, per table."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}

    def __call__(self, table: str, row: dict[str, Any]) -> None:
        self.rows.setdefault(table, []).append(copy.deepcopy(row))

    def table(self, name: str) -> list[dict[str, Any]]:
        return self.rows.get(name, [])


def new_game(scene: GymScene, bundle: Path = TINY_BUNDLE) -> tuple[Game, Recorder]:
    recorder = Recorder()
    base_row = {"session": "sess-1", "participant": "p1", "scene": scene.id, "game": "game-1"}
    return Game(scene, base_row, bundle, recorder), recorder


class Ticker:
    """Calls game.tick with planned times 1/30 s apart, as the pod's ticker does."""

    def __init__(self, game: Game) -> None:
        self.game = game
        self.ticks = 0

    def tick(self, count: int = 1) -> None:
        for _ in range(count):
            self.ticks += 1
            self.game.tick(self.ticks * TICK_NS)

    def until(self, done: Callable[[], bool]) -> None:
        for _ in range(HANG_GUARD):
            if done():
                return
            self.tick()
        raise AssertionError("the game never got there")

    def until_playing(self) -> None:
        self.until(lambda: self.game.status == Status.PLAYING)

    def until_over(self) -> None:
        self.until(lambda: self.game.status in (Status.DONE, Status.ABANDONED))


def states(game: Game) -> list[dict[str, Any]]:
    """The state payloads the participant got so far (and clear the outbox, as the pod does)."""
    sent = [game.personal(event, payload, game.human.agent) for event, payload in game.outbox if event == Event.STATE]
    game.outbox.clear()
    return sent


def notices(game: Game) -> list[str]:
    return [payload["status"] for event, payload in game.outbox if event == Event.GAME]


def test_every_tick_while_playing_records_exactly_one_step_row_with_consecutive_steps():
    game, recorder = new_game(tiny_scene(episodes=2))
    ticker = Ticker(game)
    for _ in range(HANG_GUARD):
        if game.status == Status.DONE:
            break
        before, playing = len(recorder.table("steps")), game.status == Status.PLAYING
        ticker.tick()
        assert len(recorder.table("steps")) == before + (1 if playing else 0)
    assert game.status == Status.DONE

    steps = recorder.table("steps")
    assert [(r["episode"], r["step"]) for r in steps] == [(e, s) for e in (1, 2) for s in range(1, 11)]
    assert all(r["session"] == "sess-1" and r["game"] == "game-1" for r in steps)
    assert [r["terminated"] for r in steps if r["episode"] == 1] == [False] * 9 + [True]
    planned = [r["t_planned_ns"] for r in steps if r["episode"] == 1]
    assert {b - a for a, b in zip(planned, planned[1:], strict=False)} == {TICK_NS}


def test_each_episode_ends_with_an_episodes_row_naming_its_outcome_and_seed():
    game, recorder = new_game(tiny_scene(episodes=2, seed=100))
    Ticker(game).until_over()
    episodes = recorder.table("episodes")
    assert [(e["episode"], e["status"], e["steps"], e["seed"]) for e in episodes] == [
        (1, "terminated", 10, 100),
        (2, "terminated", 10, 101),
    ]
    first = episodes[0]
    assert first["env"] == "tiny_env:make" and json.loads(first["env_kwargs"]) == {"length": 10}
    assert first["max_steps"] == 1000 and first["fps"] == 30
    assert json.loads(first["players"]) == {"agent": {"type": "human"}}
    assert json.loads(first["versions"])["env_package"] == "tiny_env"
    assert first["t_end_ns"] >= first["t_start_ns"] > 0
    assert notices(game)[-1] == Status.DONE


def test_max_steps_truncates_an_episode_the_environment_would_continue():
    game, recorder = new_game(tiny_scene(maxSteps=4))
    Ticker(game).until_over()
    steps = recorder.table("steps")
    assert [r["step"] for r in steps] == [1, 2, 3, 4]
    assert (steps[-1]["truncated"], steps[-1]["terminated"]) == (True, False)
    ((episode),) = recorder.table("episodes")
    assert (episode["status"], episode["steps"]) == ("truncated", 4)


def test_the_same_seed_replays_the_same_episode_and_another_seed_does_not():
    def observation_hashes(seed: int) -> list[str]:
        game, recorder = new_game(tiny_scene(seed=seed))
        Ticker(game).until_over()
        return [r["obs_hash"] for r in recorder.table("steps")]

    assert observation_hashes(5) == observation_hashes(5)
    assert observation_hashes(5) != observation_hashes(6)


def test_a_key_press_is_the_next_steps_action_and_its_score_adds_up():
    game, recorder = new_game(tiny_scene(maxSteps=5))
    ticker = Ticker(game)
    ticker.until_playing()
    game.on_input(game.human.agent, "ArrowRight", True, 1, 1234.5, 0, episode=game.episode)
    ticker.tick(2)
    game.on_input(game.human.agent, "ArrowRight", False, 2, 1300.0, 2, episode=game.episode)
    ticker.until_over()

    steps = recorder.table("steps")
    held_then_released = [(2, "human")] * 2 + [(1, "default")] * 3
    assert [(r["action_agent"], r["source_agent"]) for r in steps] == held_then_released
    assert [r["input_seq_agent"] for r in steps] == [1, None, 2, None, None]
    assert steps[0]["input_client_ms_agent"] == 1234.5
    assert [r["reward"] for r in steps] == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert recorder.table("episodes")[0]["score"] == 2.0
    assert all(isinstance(r["info_position"], float) for r in steps)


def test_state_frames_acknowledge_the_newest_input_and_show_the_score():
    game, _ = new_game(tiny_scene())
    ticker = Ticker(game)
    ticker.until_playing()
    states(game)
    game.on_input(game.human.agent, "ArrowRight", True, 7, None, None, episode=game.episode)
    ticker.tick()
    (state,) = states(game)
    assert (state["g"], state["e"], state["f"], state["a"]) == ("game-1", 1, 1, 7)
    assert state["hud"] == "Episode 1/1   Score 1"


def test_inputs_tagged_with_another_episode_are_ignored():
    game, recorder = new_game(tiny_scene(maxSteps=3))
    ticker = Ticker(game)
    ticker.until_playing()
    game.on_input(game.human.agent, "ArrowLeft", True, 1, None, None, episode=game.episode + 1)
    game.on_input(game.human.agent, "ArrowLeft", True, 2, None, None, episode=game.episode - 1)
    ticker.until_over()
    steps = recorder.table("steps")
    assert [(r["action_agent"], r["source_agent"]) for r in steps] == [(1, "default")] * 3
    assert game.human.ignored == 2


def test_inputs_during_the_countdown_are_ignored():
    game, recorder = new_game(tiny_scene(maxSteps=2))
    assert game.status == Status.COUNTDOWN
    game.on_input(game.human.agent, "ArrowLeft", True, 1, None, None, episode=None)
    Ticker(game).until_over()
    assert [r["source_agent"] for r in recorder.table("steps")] == ["default", "default"]
    assert game.human.ignored == 1


@pytest.mark.parametrize(
    ("fmt", "magic", "mime"), [("jpeg", JPEG_MAGIC, "image/jpeg"), ("png", PNG_MAGIC, "image/png")]
)
def test_rgb_mode_sends_encoded_frames_of_the_environments_render(fmt: str, magic: bytes, mime: str):
    game, _ = new_game(tiny_scene(maxSteps=3, rendering={"mode": "rgb", "rgbFormat": fmt}))
    Ticker(game).until_over()
    sent = states(game)
    assert len(sent) == 4  # the episode's first frame and one per step
    for state in sent:
        assert state["fmt"] == mime
        assert isinstance(state["img"], bytes) and state["img"].startswith(magic)
        assert "o" not in state


def test_objects_mode_sends_permanent_scenery_once_per_episode():
    game, _ = new_game(tiny_scene(episodes=2, maxSteps=3))
    Ticker(game).until_over()
    sent = states(game)
    assert [s["e"] for s in sent] == [1] * 4 + [2] * 4
    with_scenery = [(s["e"], s["f"]) for s in sent if s["p"]]
    assert with_scenery == [(1, 0), (2, 0)]
    assert [obj["id"] for obj in sent[0]["p"]] == ["floor"]
    for state in sent:
        assert [obj["kind"] for obj in state["o"]] == ["circle"]
        assert "img" not in state


def test_a_participant_who_comes_back_gets_the_scenery_again():
    game, _ = new_game(tiny_scene())
    ticker = Ticker(game)
    ticker.until_playing()
    ticker.tick(2)
    assert all(not s["p"] for s in states(game)[1:])
    game.resume()
    assert notices(game)[-1] == Status.PLAYING
    ticker.tick()
    (state,) = states(game)
    assert [obj["id"] for obj in state["p"]] == ["floor"]
    ticker.tick()
    assert states(game)[0]["p"] is None


class Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def test_a_paused_game_stops_stepping_and_resumes_the_same_episode_after_a_countdown(
    monkeypatch: pytest.MonkeyPatch,
):
    clock = Clock(1000.0)
    monkeypatch.setattr(game_module.time, "monotonic", clock)
    game, recorder = new_game(tiny_scene())
    ticker = Ticker(game)
    ticker.until_playing()
    game.on_input(game.human.agent, "ArrowRight", True, 1, None, None, episode=1)
    ticker.tick(3)
    game.pause()
    assert game.status == Status.PAUSED
    ticker.tick(20)
    clock.now += 60
    ticker.tick(20)
    assert [r["step"] for r in recorder.table("steps")] == [1, 2, 3]

    game.outbox.clear()
    game.resume()
    assert game.status == Status.COUNTDOWN and notices(game) == [Status.COUNTDOWN]
    ticker.tick(5)
    assert len(recorder.table("steps")) == 3  # still counting down
    clock.now += 3
    ticker.until_over()
    steps = recorder.table("steps")
    assert [(r["episode"], r["step"]) for r in steps] == [(1, s) for s in range(1, 11)]
    assert [r["source_agent"] for r in steps[3:]] == ["default"] * 7  # the held key was released
    assert [e["status"] for e in recorder.table("episodes")] == ["terminated"]


def test_a_pause_before_an_episodes_first_step_resumes_that_episode_instead_of_skipping_its_number(
    monkeypatch: pytest.MonkeyPatch,
):
    # Found by the 200-participant fault test: a drop just after episode 2's reset left episode 2
    # with no row and the game went on with episode 3.
    clock = Clock(1000.0)
    monkeypatch.setattr(game_module.time, "monotonic", clock)
    game, recorder = new_game(tiny_scene(episodes=2, maxSteps=3, countdownS=0))
    ticker = Ticker(game)
    ticker.until_playing()
    ticker.tick(3)  # episode 1 ends; episode 2 starts at once (no countdown)
    ticker.tick()
    assert game.episode == 2 and game.step == 0 and game.status == Status.PLAYING
    game.pause()
    game.resume()
    clock.now += 3
    ticker.until_over()
    steps = recorder.table("steps")
    assert [(r["episode"], r["step"]) for r in steps] == [(1, 1), (1, 2), (1, 3), (2, 1), (2, 2), (2, 3)]
    assert [e["episode"] for e in recorder.table("episodes")] == [1, 2]


def test_a_new_page_after_resume_may_number_its_inputs_from_one_again():
    game, recorder = new_game(tiny_scene(maxSteps=3))
    ticker = Ticker(game)
    ticker.until_playing()
    game.on_input(game.human.agent, "ArrowLeft", True, 50, None, None, episode=1)
    game.on_input(game.human.agent, "ArrowLeft", False, 51, None, None, episode=1)
    ticker.tick()
    game.resume()
    game.on_input(game.human.agent, "ArrowRight", True, 1, None, None, episode=1)
    ticker.until_over()
    assert [r["action_agent"] for r in recorder.table("steps")] == [0, 2, 2]


def test_stopping_an_abandoned_game_records_the_open_episode_as_abandoned():
    game, recorder = new_game(tiny_scene(episodes=3))
    ticker = Ticker(game)
    ticker.until_playing()
    ticker.tick(4)
    game.stop("abandoned")
    assert game.status == Status.ABANDONED and notices(game)[-1] == Status.ABANDONED
    ticker.tick(10)
    ((episode),) = recorder.table("episodes")
    assert (episode["episode"], episode["status"], episode["steps"]) == (1, "abandoned", 4)
    assert len(recorder.table("steps")) == 4
    game.stop("abandoned")  # stopping twice records nothing more
    assert len(recorder.table("episodes")) == 1


def test_stopping_before_the_first_step_records_no_episode():
    game, recorder = new_game(tiny_scene())
    game.stop("abandoned")
    assert game.status == Status.ABANDONED
    assert recorder.table("episodes") == [] and recorder.table("steps") == []


def test_recorded_observations_are_stored_when_the_experiment_asks_for_them():
    recorder = Recorder()
    scene = tiny_scene(maxSteps=2)
    game = Game(scene, {"session": "s", "game": "g"}, TINY_BUNDLE, recorder, record_observations=True)
    Ticker(game).until_over()
    observations = [json.loads(r["obs"]) for r in recorder.table("steps")]
    assert len(observations) == 2 and all(len(o) == 2 for o in observations)


def forage_actions(red: dict[str, Any], seed: int = 7) -> tuple[list[int], dict[str, Any], list[str]]:
    game, recorder = new_game(forage_scene(red, seed=seed), bundle=FORAGE_BUNDLE)
    Ticker(game).until_over()
    steps = recorder.table("steps")
    assert len(steps) == 40 and {r["source_blue"] for r in steps} == {"default"}
    ((episode),) = recorder.table("episodes")
    return [r["action_red"] for r in steps], json.loads(episode["players"]), [r["source_red"] for r in steps]


def test_a_random_player_is_reproducible_from_the_seed_recorded_in_the_episode_row():
    first, players, sources = forage_actions({"type": "random"})
    again, _, _ = forage_actions({"type": "random"})
    assert first == again
    assert set(sources) == {"random"} and len(set(first)) > 1
    assert players["red"] == {"type": "random", "seed": 7 + 2}  # base seed + player index + 1
    assert players["blue"]["type"] == "human"
    other, other_players, _ = forage_actions({"type": "random"}, seed=8)
    assert other_players["red"]["seed"] == 10 and other != first


def test_a_random_players_own_seed_fixes_its_actions_whatever_the_scene_seed():
    first, players, _ = forage_actions({"type": "random", "seed": 4242})
    other_scene_seed, other_players, _ = forage_actions({"type": "random", "seed": 4242}, seed=8)
    assert players["red"]["seed"] == other_players["red"]["seed"] == 4242
    assert first == other_scene_seed


def test_a_sampling_policy_player_is_reproducible_from_its_recorded_seed():
    red = {"type": "policy", "file": "policy.onnx", "observation": {"key": "red"}, "selection": "sample",
           "temperature": 2.0, "seed": 123}  # fmt: skip
    first, players, sources = forage_actions(red)
    again, _, _ = forage_actions(red)
    assert first == again
    assert set(sources) == {"policy"} and len(set(first)) > 1
    assert players["red"]["seed"] == 123 and players["red"]["selection"] == "sample"
    other, other_players, _ = forage_actions({**red, "seed": 124})
    assert other_players["red"]["seed"] == 124 and other != first


def test_an_info_value_missing_at_some_steps_is_recorded_as_empty_not_as_text():
    assert flatten_info({"target": None}) == {"info_target": None}
    assert flatten_info({"target": 3}) == {"info_target": 3.0}
