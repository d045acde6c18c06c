"""Forage with any number of agents (the `agents` kwarg), and the two-agent default pinned."""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from types import ModuleType
from typing import Any

import gymnasium
import numpy as np
import onnxruntime
import pytest
from conftest import FORAGE_DIR
from gymnasium.utils.env_checker import check_env

from gymkube.game_pod.object_check import validate_objects

THREE = ("blue", "red", "green")
STAY, UP, DOWN, LEFT, RIGHT = range(5)
pytestmark = pytest.mark.filterwarnings("ignore:.*is out of date:DeprecationWarning")


def _actions(n: int, salt: int) -> list[dict[str, int]]:
    """A fixed, library-independent action sequence for blue and red (a plain LCG)."""
    x, actions = salt, []
    for _ in range(n):
        pair = []
        for _ in range(2):
            x = (x * 1103515245 + 12345) % 2**31
            pair.append((x >> 16) % 5)
        actions.append(dict(zip(("blue", "red"), pair, strict=True)))
    return actions


def _trajectory(env: Any, seed: int, steps: int) -> tuple[str, float, list[tuple[Any, ...]]]:
    """sha256 over every observation (bytes), reward, flag, info and render_objects() of a run
    (resetting with seed + k after truncation), the total reward and the positions."""
    digest = hashlib.sha256()

    def feed(obs: dict[str, np.ndarray], reward: float, terminated: bool, truncated: bool, info: Any) -> None:
        item = {
            "obs": {k: [str(v.dtype), v.shape, v.tobytes().hex()] for k, v in obs.items()},
            "reward": reward, "terminated": terminated, "truncated": truncated, "info": info,
            "objects": env.render_objects(),
        }  # fmt: skip
        digest.update(json.dumps(item).encode())

    obs, info = env.reset(seed=seed)
    feed(obs, 0.0, False, False, info)
    positions, total, episode = [tuple(env._pos.values())], 0.0, 0
    for action in _actions(steps, seed):
        obs, reward, terminated, truncated, info = env.step(action)
        feed(obs, reward, terminated, truncated, info)
        positions.append(tuple(env._pos.values()))
        total += reward
        if terminated or truncated:
            episode += 1
            obs, info = env.reset(seed=seed + episode)
            feed(obs, 0.0, False, False, info)
    return digest.hexdigest(), total, positions


# Recorded with forage_env.py as it was before `agents` existed (two agents only). The runs
# include agents blocking each other, swaps (counted: blocked moves, swaps), wall bumps,
# apples collected and respawned, truncation and reset: byte-identical replays of old data.
PINNED = [  # kwargs, seed, steps, digest, total reward
    ({}, 7, 300, "311c4210ee0642a96227dbfb0e84d1599565adb293ed262220c87d7d113ed7db", 6.0),  # 10, 1
    ({"size": 5, "n_apples": 8, "max_steps": 60}, 5, 250,
     "074c15b48ec77ff61c5e98fa6d5c2af99652f8d85d664e3f93a3175cc4886113", 75.0),  # 6, 1
    ({"size": 3, "n_apples": 2, "max_steps": 50}, 3, 200,
     "084f60a130052263bd8dfe09a2e4501705406ea5a2b98f168e7a1a77e8d30397", 38.0),  # 23, 1
    ({"size": 4, "n_apples": 5, "max_steps": 40}, 11, 150,
     "37d91e865f95fff08c4849c88c644fcc14c700ce55eb3ae0ee7dcbb72bc481bc", 29.0),  # 10, 0
    ({"size": 2, "n_apples": 1}, 0, 40, "7c9c866fd513a7cc1f69647a9bfb1387f729624337689e9c792ca8730c827c7d", 13.0),
]  # fmt: skip
PINNED_START_7X7 = [  # (blue, red) for the first 13 states of the default run above
    ((0, 4), (4, 4)), ((1, 4), (4, 3)), ((0, 4), (5, 3)), ((0, 3), (5, 3)), ((1, 3), (5, 3)),
    ((1, 3), (4, 3)), ((0, 3), (3, 3)), ((0, 3), (4, 3)), ((1, 3), (4, 4)), ((1, 3), (5, 4)),
    ((1, 3), (5, 4)), ((1, 4), (5, 5)), ((2, 4), (4, 5)),
]  # fmt: skip


@pytest.mark.parametrize(("kwargs", "seed", "steps", "digest", "total"), PINNED)
def test_two_agent_default_replays_pinned_trajectories(
    forage: ModuleType, kwargs: dict[str, Any], seed: int, steps: int, digest: str, total: float
) -> None:
    for agents in (None, ("blue", "red"), ["blue", "red"]):
        env = forage.ForageEnv(**kwargs) if agents is None else forage.ForageEnv(**kwargs, agents=agents)
        got_digest, got_total, positions = _trajectory(env, seed, steps)
        assert (got_digest, got_total) == (digest, total), f"agents={agents}"
        if not kwargs:
            assert positions[: len(PINNED_START_7X7)] == PINNED_START_7X7
    made = gymnasium.make(forage.ENV_ID, **kwargs).unwrapped
    assert _trajectory(made, seed, steps)[:2] == (digest, total)


def test_two_agent_defaults_are_unchanged(forage: ModuleType) -> None:
    env = forage.make_env()
    assert env.agents == forage.AGENTS == ("blue", "red")
    assert list(env.action_space.spaces) == list(env.observation_space.spaces) == ["blue", "red"]
    obs, info = env.reset(seed=0)
    assert list(obs) == ["blue", "red"] and info == {"blue_apples": 0, "red_apples": 0}
    assert np.array_equal(obs["blue"][2:4], obs["red"][:2]) and np.array_equal(obs["red"][2:4], obs["blue"][:2])
    agents = [o for o in env.render_objects() if o.get("id") in ("blue", "red")]
    assert [(o["id"], o["color"]) for o in agents] == [("blue", "#1f6feb"), ("red", "#d73a49")]
    with pytest.raises(ValueError, match=r"n_apples must be between 1 and 47 \(got 48\)"):
        forage.ForageEnv(n_apples=48)


def _place(env: Any, pos: dict[str, tuple[int, int]], apples: list[tuple[int, int]] | None = None) -> None:
    """Put the agents at `pos` and the apples at `apples` (default: one on the last free cell)."""
    env._pos = dict(pos)
    cells = [(x, y) for y in range(env.size) for x in range(env.size) if (x, y) not in pos.values()]
    env._apples = apples or cells[-1:]


@pytest.mark.parametrize(
    ("start", "action", "end"),
    [
        pytest.param(  # into a cell another agent keeps: held back; the others unaffected
            {"blue": (0, 0), "red": (1, 0), "green": (3, 3)},
            {"blue": RIGHT, "red": STAY, "green": UP},
            {"blue": (0, 0), "red": (1, 0), "green": (3, 2)},
            id="into-a-staying-agent",
        ),
        pytest.param(  # a wall bump counts as staying
            {"blue": (0, 0), "red": (1, 0), "green": (3, 3)},
            {"blue": UP, "red": LEFT, "green": STAY},
            {"blue": (0, 0), "red": (1, 0), "green": (3, 3)},
            id="into-an-agent-bumping-a-wall",
        ),
        pytest.param(  # two agents into one cell: both held back
            {"blue": (0, 1), "red": (2, 1), "green": (3, 3)},
            {"blue": RIGHT, "red": LEFT, "green": LEFT},
            {"blue": (0, 1), "red": (2, 1), "green": (2, 3)},
            id="two-into-one-cell",
        ),
        pytest.param(  # three agents into one cell
            {"blue": (0, 1), "red": (2, 1), "green": (1, 2)},
            {"blue": RIGHT, "red": LEFT, "green": UP},
            {"blue": (0, 1), "red": (2, 1), "green": (1, 2)},
            id="three-into-one-cell",
        ),
        pytest.param(  # a swap between agents that are not each other's partners
            {"blue": (0, 0), "red": (3, 3), "green": (1, 0)},
            {"blue": RIGHT, "red": UP, "green": LEFT},
            {"blue": (0, 0), "red": (3, 2), "green": (1, 0)},
            id="swap-blue-green",
        ),
        pytest.param(  # red and green swap; blue, following into red's cell, is held back too
            {"blue": (0, 0), "red": (1, 0), "green": (2, 0)},
            {"blue": RIGHT, "red": RIGHT, "green": LEFT},
            {"blue": (0, 0), "red": (1, 0), "green": (2, 0)},
            id="swap-blocks-a-follower",
        ),
        pytest.param(  # following an agent that leaves its cell is fine
            {"blue": (0, 0), "red": (1, 0), "green": (2, 0)},
            {"blue": RIGHT, "red": RIGHT, "green": RIGHT},
            {"blue": (1, 0), "red": (2, 0), "green": (3, 0)},
            id="a-train-moves",
        ),
        pytest.param(  # the head of the train stays: everybody behind it is held back in turn
            {"blue": (0, 0), "red": (1, 0), "green": (2, 0)},
            {"blue": RIGHT, "red": RIGHT, "green": STAY},
            {"blue": (0, 0), "red": (1, 0), "green": (2, 0)},
            id="a-blocked-train-cascades",
        ),
        pytest.param(  # red and green collide, so red stays, so blue (moving into red's cell) stays
            {"blue": (0, 1), "red": (1, 1), "green": (2, 0)},
            {"blue": RIGHT, "red": RIGHT, "green": DOWN},
            {"blue": (0, 1), "red": (1, 1), "green": (2, 0)},
            id="a-collision-cascades",
        ),
        pytest.param(  # a rotation of three (no two swap) moves
            {"blue": (0, 0), "red": (1, 0), "green": (1, 1)},
            {"blue": RIGHT, "red": DOWN, "green": LEFT},
            {"blue": (1, 0), "red": (1, 1), "green": (0, 1)},
            id="a-three-cycle-moves",
        ),
    ],
)
def test_three_agents_block_each_other(
    forage: ModuleType, start: dict[str, Any], action: dict[str, int], end: dict[str, Any]
) -> None:
    env = forage.ForageEnv(size=4, n_apples=1, agents=THREE)
    env.reset(seed=0)
    _place(env, start, [cell for cell in [(0, 3), (3, 3), (3, 0)] if cell not in [*start.values(), *end.values()]])
    _, reward, *_ = env.step(action)
    assert env._pos == end and list(env._pos) == list(THREE) and reward == 0.0


def test_a_four_agent_rotation_moves_and_a_blocked_one_does_not(forage: ModuleType) -> None:
    agents = ("a", "b", "c", "d")
    env = forage.ForageEnv(size=3, n_apples=1, agents=agents)
    env.reset(seed=0)
    square = {"a": (0, 0), "b": (1, 0), "c": (1, 1), "d": (0, 1)}
    _place(env, square, [(2, 2)])
    env.step({"a": RIGHT, "b": DOWN, "c": LEFT, "d": UP})
    assert env._pos == {"a": (1, 0), "b": (1, 1), "c": (0, 1), "d": (0, 0)}
    _place(env, square, [(2, 2)])
    env.step({"a": RIGHT, "b": DOWN, "c": LEFT, "d": STAY})  # d stays: c, then b, then a held back
    assert env._pos == square


def _held_back_for_a_reason(pos: dict[str, Any], target: dict[str, Any], end: dict[str, Any], agent: str) -> bool:
    cell = target[agent]
    others_end = [end[a] for a in end if a != agent]
    claimed = sum(t == cell for t in target.values()) > 1
    swap = any(pos[a] == cell and target[a] == pos[agent] for a in pos if a != agent)
    return cell in others_end or claimed or swap


@pytest.mark.parametrize("n_agents", [2, 3, 4, 6])
def test_random_crowds_keep_the_rules(forage: ModuleType, n_agents: int) -> None:
    agents = [f"agent_{i}" for i in range(n_agents)]
    env = forage.ForageEnv(size=3, n_apples=9 - n_agents, agents=agents, max_steps=10_000)
    env.reset(seed=n_agents)
    rng = random.Random(n_agents)
    moved = held = 0
    for _ in range(500):
        pos = dict(env._pos)
        action = {agent: rng.randrange(5) for agent in agents}
        target = {agent: env._target(agent, action) for agent in agents}
        apples_before = sum(env._collected.values())
        _, reward, *_ = env.step(action)
        end = env._pos
        assert len(set(end.values())) == n_agents and not set(end.values()) & set(env._apples)
        assert len(env._apples) == 9 - n_agents
        assert reward == sum(env._collected.values()) - apples_before
        for agent in agents:
            assert end[agent] in (pos[agent], target[agent])
            for other in agents:  # nobody swaps
                assert other == agent or (end[agent], end[other]) != (pos[other], pos[agent])
            if target[agent] != pos[agent]:
                if end[agent] == pos[agent]:
                    held += 1
                    assert _held_back_for_a_reason(pos, target, end, agent)
                else:
                    moved += 1
                    assert sum(t == target[agent] for t in target.values()) == 1
    assert moved > 50 and held > 50


def test_partner_is_the_next_agent(forage: ModuleType) -> None:
    env = forage.ForageEnv(size=5, n_apples=1, agents=THREE)
    env.reset(seed=0)
    _place(env, {"blue": (0, 0), "red": (4, 0), "green": (2, 4)}, [(2, 2)])
    obs, *_ = env.step({"blue": STAY, "red": STAY, "green": STAY})
    assert list(obs) == list(THREE)
    np.testing.assert_array_equal(obs["blue"], np.array([-1, -1, 1, -1, 0.5, 0.5], np.float32))
    np.testing.assert_array_equal(obs["red"], np.array([1, -1, 0, 1, -0.5, 0.5], np.float32))
    np.testing.assert_array_equal(obs["green"], np.array([0, 1, -1, -1, 0, -0.5], np.float32))


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("agents", [THREE, ("a", "b", "c", "d", "e", "f")], ids=["three", "six"])
def test_spaces_info_and_rendering_follow_agents(forage: ModuleType, agents: tuple[str, ...]) -> None:
    env: Any = gymnasium.make(forage.ENV_ID, size=4, n_apples=2, agents=list(agents)).unwrapped
    check_env(env)
    assert env.agents == agents
    assert list(env.action_space.spaces) == list(env.observation_space.spaces) == list(agents)
    assert all(space == gymnasium.spaces.Discrete(5) for space in env.action_space.spaces.values())
    obs, info = env.reset(seed=3)
    assert list(obs) == list(agents) and env.observation_space.contains(obs)
    assert info == {f"{agent}_apples": 0 for agent in agents}
    objects = env.render_objects()
    assert validate_objects(objects) == []
    drawn = [o for o in objects if o["kind"] == "rect" and o.get("depth") == 2]
    assert [o["id"] for o in drawn] == list(agents)
    assert [o["color"] for o in drawn] == [env.colors[agent] for agent in agents]
    assert len({o["color"] for o in drawn} | {forage.COLORS["apple"]}) == len(agents) + 1
    ids = [o["id"] for o in objects if "id" in o]
    assert len(ids) == len(set(ids))
    for _ in range(30):
        obs, _, _, _, info = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs) and set(info) == {f"{a}_apples" for a in agents}


def test_colors(forage: ModuleType) -> None:
    apple = forage.COLORS["apple"]
    known = {"blue": "#1f6feb", "red": "#d73a49", "purple": "#8250df", "orange": "#bc4c00",
             "teal": "#1b7c83", "yellow": "#bf8700", "green": "#84cc16"}  # fmt: skip
    assert forage.AGENT_COLORS == known and apple == "#2da44e" and apple not in known.values()
    assert forage.ForageEnv(agents=["green", "blue", "red"]).colors == {
        "green": "#84cc16",
        "blue": "#1f6feb",
        "red": "#d73a49",
    }
    # Unknown names take the palette in order, skipping colours that named agents have.
    assert forage.ForageEnv(agents=["p1", "p2", "p3"]).colors == {"p1": "#1f6feb", "p2": "#d73a49", "p3": "#8250df"}
    assert forage.ForageEnv(agents=["x", "blue", "apple"]).colors == {
        "x": "#d73a49",
        "blue": "#1f6feb",
        "apple": "#8250df",
    }
    six = ["zed", "yellow", "teal", "orange", "purple", "red"]
    assert forage.ForageEnv(size=4, agents=six).colors["zed"] == "#1f6feb"
    for agents in itertools.permutations(["blue", "green", "q", "r", "s", "t"], 6):
        colors = forage.ForageEnv(size=4, agents=agents).colors
        assert len(set(colors.values())) == 6 and apple not in colors.values()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"agents": "blue"}, "agents must be a list of agent names"),
        ({"agents": 3}, "agents must be a list of agent names"),
        ({"agents": ["blue"]}, "agents must name 2 to 6 agents"),
        ({"agents": []}, "agents must name 2 to 6 agents"),
        ({"agents": [f"a{i}" for i in range(7)]}, "agents must name 2 to 6 agents"),
        ({"agents": ["blue", "red", "blue"]}, "agent names must be unique; repeated: blue"),
        ({"agents": ["blue", "1red"]}, "agent name '1red' is not valid"),
        ({"agents": ["blue", "red-2"]}, "agent name 'red-2' is not valid"),
        ({"agents": ["blue", ""]}, "agent name '' is not valid"),
        ({"agents": ["blue", "red\n"]}, "agent name 'red\\\\n' is not valid"),
        ({"agents": ["blue", "x" * 33]}, "agent name 'x{33}' is not valid"),
        ({"agents": ["blue", 7]}, "agent name 7 is not valid"),
        ({"agents": ["blue", None]}, "agent name None is not valid"),
        ({"size": 2, "agents": ["a", "b", "c", "d"]}, "a 2x2 grid has no room for 4 agents and an apple"),
        ({"size": 2, "n_apples": 2, "agents": THREE}, r"n_apples must be between 1 and 1 with 3 agents on a 2x2"),
        ({"size": 3, "n_apples": 7, "agents": THREE}, r"n_apples must be between 1 and 6 with 3 agents .* \(got 7\)"),
    ],
)
def test_bad_kwargs_are_explained(forage: ModuleType, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        forage.ForageEnv(**kwargs)


def test_limits_that_just_fit(forage: ModuleType) -> None:
    env = forage.ForageEnv(size=3, n_apples=6, agents=THREE)
    env.reset(seed=1)
    assert len(set(env._pos.values()) | set(env._apples)) == 9
    env.step({"blue": RIGHT, "red": DOWN, "green": LEFT})  # whatever happens, nothing breaks
    assert forage.ForageEnv(size=32, agents=["a" * 32, "_" * 32]).agents == ("a" * 32, "_" * 32)
    env = forage.ForageEnv(size=5, agents=THREE)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"step\(\) needs an action for each of \('blue', 'red', 'green'\)"):
        env.step({"blue": 0, "red": 0})


def _policy() -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(str(FORAGE_DIR / "policy.onnx"), providers=["CPUExecutionProvider"])


def test_policy_plays_any_agent_of_three(forage: ModuleType) -> None:
    """policy.onnx reads one agent's 6 numbers, whatever the agent is called. It steers round
    its partner (the next agent) only, so it can stall behind another agent; as a team, and
    as green alone beside two idle agents, it still collects apples."""
    session = _policy()
    team, alone = [], []
    for seed in range(10):
        env = forage.ForageEnv(agents=THREE)
        obs, info = env.reset(seed=seed)
        for _ in range(40):
            (logits,) = session.run(None, {"obs": np.stack([obs[agent] for agent in THREE])})
            assert logits.shape == (3, 5) and np.isfinite(logits).all()
            action = {agent: int(row.argmax()) for agent, row in zip(THREE, logits, strict=True)}
            obs, _, _, _, info = env.step(action)
        team.append(info)
        env = forage.ForageEnv(agents=THREE)
        obs, info = env.reset(seed=seed)
        for _ in range(40):
            (logits,) = session.run(None, {"obs": obs["green"][None]})
            obs, _, _, _, info = env.step({"blue": STAY, "red": STAY, "green": int(logits.argmax())})
        assert info["blue_apples"] == info["red_apples"] == 0
        alone.append(info["green_apples"])
    assert all(sum(info.values()) > 0 for info in team)
    assert sum(info[f"{agent}_apples"] for info in team for agent in THREE) >= 30
    assert sum(info["green_apples"] > 0 for info in team) >= 5
    assert sum(count > 0 for count in alone) >= 8 and sum(alone) >= 50
