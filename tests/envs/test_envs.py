"""The environments gymkube ships: Forage (examples/forage) and the built-in renderers' envs."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import gymnasium
import msgpack
import numpy as np
import onnx
import onnxruntime
import pytest
from conftest import EXAMPLES, FORAGE_DIR
from gymnasium.utils.env_checker import check_env, data_equivalence

from gymkube.game_pod.environments import find_object_renderer, make_env
from gymkube.game_pod.object_check import validate_objects
from gymkube.game_pod.renderers import BUILTIN_RENDERERS
from gymkube.spec import PolicyPlayer, load_experiment_file

CASES = ["forage", *BUILTIN_RENDERERS]
STEPS = 300
pytestmark = pytest.mark.filterwarnings("ignore:.*is out of date:DeprecationWarning")


def _make(case: str, forage: ModuleType) -> tuple[gymnasium.Env, Callable[[], Any]]:
    """The env and a function drawing its current state as objects."""
    if case == "forage":
        env = forage.make_env()
        return env, env.render_objects
    env = gymnasium.make(case)
    renderer = BUILTIN_RENDERERS[case]
    return env, lambda: renderer(env)


def _rollout(case: str, forage: ModuleType, seed: int) -> Iterator[tuple[Any, ...]]:
    """Step a fresh env STEPS times with seeded random actions, resetting with seed+k."""
    env, draw = _make(case, forage)
    env.action_space.seed(seed)
    episode = 0
    obs, info = env.reset(seed=seed)
    yield obs, 0.0, False, False, info, draw()
    for _ in range(STEPS):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        yield obs, reward, terminated, truncated, info, draw()
        if terminated or truncated:
            episode += 1
            obs, info = env.reset(seed=seed + episode)
            yield obs, 0.0, False, False, info, draw()
    env.close()


@pytest.mark.filterwarnings("error")
def test_forage_passes_gymnasium_env_checker(forage: ModuleType) -> None:
    check_env(gymnasium.make(forage.ENV_ID).unwrapped)
    check_env(gymnasium.make(forage.ENV_ID, size=4, n_apples=14, max_steps=5).unwrapped)


def test_forage_registration_survives_reimport(forage: ModuleType) -> None:
    importlib.reload(forage)
    env = gymnasium.make(forage.ENV_ID, max_steps=3)
    env.reset(seed=0)
    results = [env.step({"blue": 0, "red": 0}) for _ in range(3)]
    assert [r[3] for r in results] == [False, False, True]
    assert isinstance(forage.make_env(), forage.ForageEnv)


@pytest.mark.parametrize("case", CASES)
def test_seeded_runs_are_identical(case: str, forage: ModuleType) -> None:
    first, second = _rollout(case, forage, seed=11), _rollout(case, forage, seed=11)
    for a, b in zip(first, second, strict=True):
        assert data_equivalence(a, b, exact=True)


@pytest.mark.parametrize("case", CASES)
def test_a_different_seed_gives_a_different_start(case: str, forage: ModuleType) -> None:
    env, _ = _make(case, forage)
    starts = [env.reset(seed=seed)[0] for seed in range(5)]
    for i, start in enumerate(starts):
        assert not any(data_equivalence(start, other) for other in starts[i + 1 :])


def test_forage_apple_layout_depends_on_the_seed(forage: ModuleType) -> None:
    env = forage.make_env()

    def apples(seed: int) -> list[tuple[float, float]]:
        env.reset(seed=seed)
        return sorted((o["x"], o["y"]) for o in env.render_objects() if o["kind"] == "circle")

    layouts = [apples(seed) for seed in range(10)]
    assert all(len(layout) == 3 for layout in layouts)
    assert len({tuple(layout) for layout in layouts}) == 10
    assert apples(3) == layouts[3]


@pytest.mark.parametrize("case", CASES)
def test_objects_are_valid_and_packable_at_every_step(case: str, forage: ModuleType) -> None:
    permanent: dict[str, dict[str, Any]] = {}
    for *_, objects in _rollout(case, forage, seed=5):
        assert validate_objects(objects) == []
        assert msgpack.unpackb(msgpack.packb(objects)) == objects
        for obj in objects:
            if obj.get("permanent"):  # sent once per game, so it must never change
                assert permanent.setdefault(obj["id"], obj) == obj
    assert permanent, "static scenery should be permanent"


def test_forage_rules(forage: ModuleType) -> None:
    env = forage.ForageEnv(size=5, n_apples=2)
    env.reset(seed=0)
    env._pos, env._apples = {"blue": (0, 0), "red": (1, 0)}, [(4, 4), (3, 3)]
    _, reward, *_ = env.step({"blue": 4, "red": 0})  # into red, who stays: blocked
    assert env._pos == {"blue": (0, 0), "red": (1, 0)} and reward == 0.0
    env.step({"blue": 4, "red": 3})  # swap: blocked
    assert env._pos == {"blue": (0, 0), "red": (1, 0)}
    env.step({"blue": 1, "red": 4})  # wall above blue; red moves on
    assert env._pos == {"blue": (0, 0), "red": (2, 0)}
    env._apples = [(0, 1), (2, 1)]
    obs, reward, terminated, truncated, info = env.step({"blue": 2, "red": 2})
    assert reward == 2.0 and not terminated and not truncated
    assert info == {"blue_apples": 1, "red_apples": 1}
    assert len(set(env._apples) | {(0, 1), (2, 1)}) == 4  # both respawned on free cells
    assert obs["blue"].dtype == np.float32 and env.observation_space.contains(obs)
    with pytest.raises(ValueError, match="action"):
        env.step({"blue": 0})


def _policy() -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(str(FORAGE_DIR / "policy.onnx"), providers=["CPUExecutionProvider"])


def test_policy_interface() -> None:
    model = onnx.load(str(FORAGE_DIR / "policy.onnx"))
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [17]
    session = _policy()
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.shape, inp.type) == ("obs", ["batch", 6], "tensor(float)")
    assert (out.name, out.shape) == ("logits", ["batch", 5])
    (logits,) = session.run(None, {"obs": np.zeros((4, 6), np.float32)})
    assert logits.shape == (4, 5) and logits.dtype == np.float32


def test_greedy_red_alone_collects_apples(forage: ModuleType) -> None:
    session = _policy()
    for seed in range(20):
        env = forage.make_env()
        obs, info = env.reset(seed=seed)
        start = np.abs(obs["red"][4:]).sum()
        blue_adjacent = round(np.abs(obs["red"][2:4] - obs["red"][:2]).sum() * 3) == 1
        for step in range(30):
            (logits,) = session.run(None, {"obs": obs["red"][None]})
            obs, _, _, _, info = env.step({"blue": 0, "red": int(logits.argmax())})
            if step == 0 and not blue_adjacent and info["red_apples"] == 0:
                assert np.abs(obs["red"][4:]).sum() < start, f"seed {seed}: first move"
            if info["red_apples"]:
                break
        assert info == {"blue_apples": 0, "red_apples": 1}, f"seed {seed}"


@pytest.mark.timeout(60)
def test_make_policy_regenerates_identical_bytes(tmp_path: Path) -> None:
    copy = tmp_path / "forage"
    shutil.copytree(FORAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "policy.onnx").unlink()
    subprocess.run([sys.executable, str(copy / "make_policy.py")], cwd=tmp_path, check=True, timeout=30)
    assert (copy / "policy.onnx").read_bytes() == (FORAGE_DIR / "policy.onnx").read_bytes()


@pytest.fixture
def isolated_imports() -> Iterator[None]:
    """Modules imported from an example's files are forgotten afterwards (other tests import them their way)."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        if str(getattr(sys.modules[name], "__file__", "")).startswith(str(EXAMPLES)):
            del sys.modules[name]


@pytest.mark.parametrize("manifest", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_manifests_fit_their_environments(manifest: Path, isolated_imports: None) -> None:
    (experiment,) = load_experiment_file(manifest)
    bundle = manifest.parent / (experiment.spec.bundle or "")
    for scene in experiment.spec.gym_scenes():
        env = make_env(scene, bundle)  # a Gymnasium id, a PettingZoo one (seated by player) or the bundle's own
        if scene.rendering.mode == "objects":
            assert find_object_renderer(scene, env, bundle)
        space = env.action_space  # gymnasium's, or a dict of spaces by player (PettingZoo, pure-Python envs)
        spaces = space if isinstance(space, dict) else getattr(space, "spaces", {scene.human_agent: space})
        assert set(scene.players) == set(spaces)
        human_space = spaces[scene.human_agent]
        for action in [*scene.controls.keys.values(), scene.controls.default_action]:
            assert human_space.contains(action) if hasattr(human_space, "contains") else 0 <= action < human_space.n
        for player in scene.players.values():
            if isinstance(player, PolicyPlayer):
                assert (bundle / player.file).is_file()
        env.close()
