"""The built-in renderers' geometry and `validate_objects`' reports on broken renderer output."""

from __future__ import annotations

import math
from typing import Any

import gymnasium
import numpy as np
import pytest

from gymkube.game_pod.object_check import validate_objects
from gymkube.game_pod.renderers import BUILTIN_RENDERERS, cartpole, find_renderer

pytestmark = pytest.mark.filterwarnings("ignore:.*is out of date:DeprecationWarning")


def test_find_renderer() -> None:
    assert find_renderer("CartPole-v1") is cartpole
    assert find_renderer("Acrobot-v1") is BUILTIN_RENDERERS["Acrobot-v1"]
    assert find_renderer("LunarLander-v3") is None
    assert find_renderer(None) is None


@pytest.mark.parametrize("env_id", list(BUILTIN_RENDERERS))
def test_before_reset_only_scenery_is_drawn(env_id: str) -> None:
    objects = BUILTIN_RENDERERS[env_id](gymnasium.make(env_id))
    assert objects and validate_objects(objects) == []
    assert all(o.get("permanent") for o in objects)


def test_cartpole_pole_follows_the_angle() -> None:
    env = gymnasium.make("CartPole-v1")
    env.reset(seed=0)
    env.unwrapped.state = np.array([1.2, 0.0, 0.2, 0.0])
    pole = next(o for o in cartpole(env) if o["kind"] == "line" and not o.get("permanent"))
    (px, py), (tx, ty) = pole["points"]
    assert px == pytest.approx(0.75, abs=1e-4)  # x = x_threshold / 2 -> three quarters across
    assert tx > px and ty < py  # positive theta leans right, and up is smaller y
    dx, dy = (tx - px) * 600, (py - ty) * 400  # back to pixels of the 600x400 layout
    assert math.atan2(dx, dy) == pytest.approx(0.2, abs=1e-3)


@pytest.mark.parametrize(
    ("objects", "expected"),
    [
        ({"kind": "rect"}, "not a list"),
        ([{"kind": "blob", "x": 0}], "'kind' is 'blob'"),
        ([{"kind": "rect", "x": 0, "y": 0, "w": 1}], "a rect needs 'h'"),
        ([{"kind": "circle", "x": np.float32(0.5), "y": 0, "r": 1}], "numpy float32"),
        ([{"kind": "circle", "x": np.float64(0.5), "y": 0, "r": 1}], "numpy float64"),
        ([{"kind": "circle", "x": 0, "y": float("nan"), "r": 1}], "not a finite number"),
        ([{"kind": "line", "points": np.zeros((2, 2))}], "numpy array"),
        ([{"kind": "line", "points": [[0, 0], [1, math.inf]]}], "not a finite number"),
        ([{"kind": "line", "points": [[0, 0]]}], "at least 2 points"),
        ([{"kind": "polygon", "points": [0, 1, 2]}], "[x, y] points"),
        ([{"kind": "text", "x": 0, "y": 0, "text": 3}], "'text' must be a str"),
        ([{"kind": "text", "x": 0, "y": 0, "text": "a", "align": "middle"}], "'align'"),
        ([{"kind": "rect", "x": 0, "y": 0, "w": 1, "h": 1, "permanent": True}], "needs an 'id'"),
        ([{"kind": "rect", "x": 0, "y": 0, "w": 1, "h": 1, "depth": 1.5}], "'depth' must be"),
        ([{"kind": "rect", "x": "0", "y": 0, "w": 1, "h": 1}], "'x' must be a number"),
        ([{"kind": "rect", "x": True, "y": 0, "w": 1, "h": 1}], "'x' must be a number"),
        ([{"kind": "image", "x": 0, "y": 0, "w": 1, "h": 1, "src": "https://a.b/c.png"}], "src"),
        ([{"kind": "circle", "x": 0, "y": 0, "r": 1, "color": {1, 2}}], "type set"),
        ([{"id": "a", "kind": "circle", "x": 0, "y": 0, "r": 1}] * 2, "'a' is used by another"),
        ([(1, 2)], "not a dict"),
        ([{"kind": "sprite", "x": 0, "y": 0, "atlas": "a"}], "a sprite needs 'frame'"),
        ([{"kind": "sprite", "x": 0, "y": 0, "atlas": "a", "frame": "f", "flip": "z"}], "'flip' must be true"),
        ([{"kind": "rect", "x": 0, "y": 0, "w": 1, "h": 1, "alpha": 1.5}], "'alpha' must be a number from 0"),
        ([{"kind": "rect", "x": 0, "y": 0, "w": 1, "h": 1, "tween": {"ms": -1}}], "'tween' must be {ms: N}"),
        ([{"kind": "rect", "x": 0, "y": 0, "w": 1, "h": 1, "tween": 100}], "'tween' must be {ms: N}"),
    ],
)
def test_validate_objects_reports_problems(objects: Any, expected: str) -> None:
    problems = validate_objects(objects)
    assert problems and expected in problems[0], problems


def test_validate_objects_accepts_every_kind_and_caps_reports() -> None:
    good = [
        {"id": "bg", "kind": "rect", "x": 0, "y": 0, "w": 1, "h": 1, "permanent": True,
         "fill": False, "angle": 0.5, "lineWidth": 2, "color": "#fff", "depth": -1},
        {"kind": "circle", "x": 0.5, "y": 0.5, "r": 0.1, "fill": True},
        {"kind": "line", "points": [(0, 0), (1, 1)], "width": 3},
        {"kind": "polygon", "points": [[0, 0], [1, 0], [0, 1]]},
        {"kind": "text", "x": 0.5, "y": 0.1, "text": "Hi", "size": 18, "align": "center"},
        {"kind": "image", "x": 0, "y": 0, "w": 0.1, "h": 0.1, "src": "files/a.png", "alpha": 0.5},
        {"id": "chef", "kind": "sprite", "x": 3, "y": 4, "atlas": "kitchen", "frame": "chef_up", "w": 1, "h": 1,
         "scale": 2, "angle": 0.1, "flip": "x", "alpha": 1, "tween": {"ms": 120}},
    ]  # fmt: skip
    assert validate_objects(good) == []
    assert validate_objects(good, atlases={"kitchen": {"chef_up"}}) == []
    problems = validate_objects([{"kind": "nope"}] * 50, limit=5)
    assert len(problems) == 6 and problems[-1].startswith("...")


def test_sprites_are_checked_against_the_scenes_atlases() -> None:
    sprite = {"kind": "sprite", "x": 0, "y": 0, "atlas": "kitchen", "frame": "chef_up"}
    assert validate_objects([sprite], atlases={"kitchen": {"chef_down"}}) == [
        "object 0: 'frame' 'chef_up' is not in atlas 'kitchen'"
    ]
    assert validate_objects([sprite], atlases={"items": {"chef_up"}}) == [
        "object 0: 'atlas' 'kitchen' is not one of the scene's rendering.atlases (items)"
    ]
