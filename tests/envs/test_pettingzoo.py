"""PettingZoo environments (`environment.api: pettingzoo`): one seat per agent, each AI fed its own observation.

The environment is the tests' own ParallelEnv (tests/fixtures/parallel/cue_env.py): every agent is
shown a cue of its own and scores when it acts on it. Two bots play the human seats as a group; the
third seat is an ONNX policy that is the identity, so it scores on every step exactly when the pod
feeds it its own agent's observation (the other agents' cues differ).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import onnx
import pytest
import yaml
from conftest import ROOT
from datacheck import assert_one_row_per_tick, expected_human_actions, steps_by_episode
from onnx import TensorProto, helper

from gymkube.bot import ParticipantBot
from gymkube.portable.parallel import Seated, make_parallel_env
from gymkube.spec import ManifestError, load_experiment_file

FIXTURE = ROOT / "tests" / "fixtures" / "parallel"
KEYS = {"ArrowLeft": 0, "ArrowUp": 1, "ArrowRight": 2, "ArrowDown": 3}


def identity_policy(path: Path) -> None:
    """An ONNX policy whose logits are its observation: it picks the cue it is shown."""
    graph = helper.make_graph(
        [helper.make_node("Identity", ["obs"], ["logits"])],
        "identity",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def manifest(tmp_path: Path, environment: dict[str, Any], players: dict[str, Any] | None = None) -> Path:
    bundle = tmp_path / "bundle"
    shutil.copytree(FIXTURE, bundle, ignore=shutil.ignore_patterns("__pycache__"), dirs_exist_ok=True)
    identity_policy(bundle / "identity.onnx")
    fallback = {"type": "random", "seed": 3}
    players = players or {
        "alice": {"type": "human", "fallback": fallback},
        "bob": {"type": "human", "fallback": fallback},
        "robot": {"type": "policy", "file": "identity.onnx"},
    }
    humans = sum(p["type"] == "human" for p in players.values())
    group = {"group": {"maxWaitS": 30, "onWaitTimeout": "end", "roles": "arrival"}} if humans > 1 else {}
    document = {
        "apiVersion": "gymkube.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": "cues"},
        "spec": {
            "bundle": str(bundle),
            "scenes": [
                {
                    "type": "gym",
                    "id": "cues",
                    "environment": {"entryPoint": "cue_env:make", "api": "pettingzoo", **environment},
                    "players": players,
                    "controls": {"keys": KEYS, "defaultAction": 0},
                    **group,
                    "episodes": 2, "maxSteps": 30, "fps": 30, "countdownS": 0, "seed": 11,
                },
                {"type": "end"},
            ],
        },
    }  # fmt: skip
    path = tmp_path / "cues.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


@pytest.fixture
def cue_env() -> Any:
    sys.path.insert(0, str(FIXTURE))
    try:
        import cue_env

        yield cue_env
    finally:
        sys.path.remove(str(FIXTURE))
        sys.modules.pop("cue_env", None)


def test_two_humans_and_an_ai_seat_play_a_parallel_env_and_it_checks_and_replays(platform_factory, tmp_path):
    platform = platform_factory(manifest(tmp_path, {"kwargs": {"length": 25}}))

    async def main() -> list[ParticipantBot]:
        bots = [ParticipantBot(platform.entry("cues", PROLIFIC_PID=f"p{i}"), seed=i) for i in range(2)]
        return list(await asyncio.gather(*(bot.run(90) for bot in bots)))

    bots = asyncio.run(main())
    assert all(b.completion_code and b.end_reason is None for b in bots)
    assert sorted(b.agent for b in bots) == ["alice", "bob"]
    data = platform.finish("cues")  # `gymkube check` clean, `gymkube replay` 100%
    episodes = data["episodes"]
    assert [e["status"] for e in episodes] == ["terminated", "terminated"]
    assert {e["env_api"] for e in episodes} == {"pettingzoo"}
    assert all(json.loads(e["versions"])["pettingzoo"] for e in episodes)
    assert_one_row_per_tick(data["steps"], episodes, fps=30)
    for rows in steps_by_episode(data["steps"]).values():
        assert len(rows) == 25
        # The identity policy scores on every step only when it reads the robot's own cue.
        assert {r["source_robot"] for r in rows} == {"policy"}
        assert {r["reward_robot"] for r in rows} == {1.0}
        assert [r["action_robot"] for r in rows[1:]] == [r["info_robot_cue"] for r in rows[:-1]]
        for bot in bots:
            assert bot.agent is not None
            expected = expected_human_actions(rows, bot.agent, bot.inputs, KEYS, 0)
            assert [(r[f"action_{bot.agent}"], r[f"source_{bot.agent}"]) for r in rows] == expected
        # The score counts the humans' rewards only, as for any multi-agent environment.
        assert {r["reward"] for r in rows} <= {0.0, 1.0, 2.0}


def test_players_map_to_int_agents_and_every_agent_needs_a_seat(cue_env):
    seated = Seated(cue_env.make(agents=[0, 1, 2]), ["a", "b", "c"], {"a": 2, "b": 0, "c": 1})
    observations, _ = seated.reset(seed=4)
    assert set(observations) == {"a", "b", "c"}
    assert seated.agent_of == {"a": 2, "b": 0, "c": 1}
    cues = {player: int(obs.argmax()) for player, obs in observations.items()}
    _, rewards, terminated, truncated, infos = seated.step(cues)
    assert rewards == {"a": 1.0, "b": 1.0, "c": 1.0} and not terminated and not truncated
    assert set(infos) == {"a", "b", "c"}
    # Players named after the agents (as text) need no map.
    assert Seated(cue_env.make(agents=[0, 1]), ["x0", "x1"], {"x0": "0", "x1": "1"}).agent_of == {"x0": 0, "x1": 1}
    with pytest.raises(ValueError, match="does not have"):
        Seated(cue_env.make(), ["alice", "bob", "carol"])
    with pytest.raises(ValueError, match="one seat per agent"):
        Seated(cue_env.make(), ["alice", "bob"])


def test_an_episode_ends_when_no_agent_is_left(cue_env):
    seated = Seated(cue_env.make(length=3), ["alice", "bob", "robot"])
    seated.reset(seed=1)
    ends = [seated.step(dict.fromkeys(["alice", "bob", "robot"], 0))[2:4] for _ in range(3)]
    assert ends == [(False, False), (False, False), (True, False)]


def test_registered_ids_and_bad_ones():
    env = make_parallel_env("Overcooked-CrampedRoom-V0", None, {})  # cogrid's registry
    assert list(env.possible_agents) == [0, 1]
    with pytest.raises(LookupError, match="no PettingZoo environment 'Nope-V0'"):
        make_parallel_env("Nope-V0", None, {})


def test_the_spec_checks_the_agent_map(tmp_path):
    players = {"a": {"type": "human"}, "b": {"type": "random"}}
    ok = manifest(tmp_path, {"agents": {"a": 0, "b": 1}, "kwargs": {"agents": [0, 1]}}, players)
    (experiment,) = load_experiment_file(ok)
    assert experiment.spec.gym_scenes()[0].environment.agents == {"a": 0, "b": 1}
    for environment, message in (
        ({"agents": {"a": 0}}, "must name every player once"),
        ({"agents": {"a": 0, "b": 0}}, "one environment agent to two players"),
    ):
        with pytest.raises(ManifestError, match=message):
            load_experiment_file(manifest(tmp_path, environment, players))
    document = yaml.safe_load(ok.read_text())
    document["spec"]["scenes"][0]["environment"]["api"] = "gymnasium"
    ok.write_text(yaml.safe_dump(document))
    with pytest.raises(ManifestError, match="needs 'api: pettingzoo'"):
        load_experiment_file(ok)


def test_a_browser_game_steps_a_parallel_env_as_the_pod_replays_it(tmp_path, cue_env):
    """Client mode runs the same seated environment in the page (here under CPython, as in Pyodide)."""
    from gymkube.game_pod.remote import sim_config
    from gymkube.integrity.replay import BundleCache, replay_episode
    from gymkube.portable.sim import Solo
    from gymkube.storage import LocalStorage

    players = {"alice": {"type": "human"}, "bob": {"type": "noop", "action": 2}, "robot": {"type": "random"}}
    (experiment,) = load_experiment_file(manifest(tmp_path, {"kwargs": {"length": 12}}, players))
    scene = experiment.spec.gym_scenes()[0]
    config = sim_config(scene, "g1", seed=9, episode=1, rounds_done=0, record_observations=False)
    game = Solo(json.dumps(config | {"searchDir": str(FIXTURE)}))
    game.start(0.0)
    game.key("ArrowRight", True, 1, 5.0, 0, 1.0)
    for tick in range(1, 30):
        if json.loads(game.tick("", tick * 33.0))["end"]:
            break
    entries = json.loads(game.take())
    rows = [e["row"] for e in entries if e["k"] == "step"]
    assert entries[-1] == entries[-1] | {"k": "end", "status": "terminated", "steps": 12}
    assert {r["action_alice"] for r in rows} == {2} and {r["action_bob"] for r in rows} == {2}
    assert {r["source_robot"] for r in rows} == {"random"} and len({r["action_robot"] for r in rows}) > 1
    episode = {"game": "g1", "episode": 1, "seed": 9, "env": "cue_env:make", "env_source": "entryPoint",
               "env_kwargs": json.dumps(scene.environment.kwargs), "env_api": "pettingzoo", "env_agents": "null",
               "players": json.dumps(players), "max_steps": scene.max_steps, "steps": 12}  # fmt: skip
    bundles = BundleCache(LocalStorage(tmp_path / "storage"), "cues", FIXTURE)
    try:
        assert replay_episode(episode, rows, bundles).identical
    finally:
        bundles.close()
