"""Built-in object renderers for classic Gymnasium environments."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

Renderer = Callable[[Any], list[dict[str, Any]]]
"""`renderer(env) -> objects`: shapes in canvas fractions (0..1, origin top-left)."""

# Each renderer reproduces Gymnasium's own pygame drawing, which is laid out in pixels of a
# fixed screen; points are converted to canvas fractions of that screen, so the picture is
# right when the scene's `rendering` keeps the same aspect ratio (CartPole and MountainCar
# 600x400, Acrobot square).


def _f(value: float) -> float:
    """A plain float rounded to 4 decimals (small on the wire, never a numpy scalar)."""
    return round(float(value), 4)


def _shape(kind: str, color: str, depth: int, id: str = "", **fields: Any) -> dict[str, Any]:
    """One object; giving an `id` makes it permanent scenery (sent once per game)."""
    obj = {"kind": kind, **fields, "color": color, "depth": depth}
    if id:
        obj.update(id=id, permanent=True)
    return obj


def _state(env: Any) -> np.ndarray | None:
    state = getattr(env.unwrapped, "state", None)
    return None if state is None else np.asarray(state, dtype=np.float64)


def _screen(width: float, height: float) -> Callable[[float, float], list[float]]:
    """Gymnasium pixels (y up from the bottom) to canvas fractions (y down from the top)."""
    return lambda px, py: [_f(px / width), _f(1 - py / height)]


@functools.lru_cache(maxsize=64)
def _cartpole_layout(x_threshold: float, length: float) -> tuple[tuple[dict[str, Any], ...], float, float]:
    """CartPole's scenery (the same objects for every frame of every game), pixels per unit and the pole's length."""
    point = _screen(600, 400)
    scale = 600 / (2 * x_threshold)
    track = [point(0, 100), point(600, 100)]  # Gymnasium's track: 100 px above the bottom
    scenery = (
        _shape("rect", "#eef1f4", -2, "ground", x=0.0, y=track[0][1], w=1.0, h=0.25),
        _shape("line", "#1f2328", -1, "track", points=track, width=2),
    )
    return scenery, scale, scale * 2 * length


_CART_W, _CART_H, _AXLE_R, _PIVOT_Y = _f(50 / 600), _f(30 / 400), _f(5 / 600), _f(1 - 107.5 / 400)


def cartpole(env: Any) -> list[dict[str, Any]]:
    """CartPole from `env.unwrapped.state` (x, x_dot, theta, theta_dot); 600x400 layout.

    Drawn every frame of every session, so the scenery is laid out once and each frame computes
    only the cart, the pole and the axle.
    """
    base = env.unwrapped
    scenery, scale, pole_len = _cartpole_layout(
        float(getattr(base, "x_threshold", 2.4)), float(getattr(base, "length", 0.5))
    )
    state = getattr(base, "state", None)
    if state is None:
        return list(scenery)
    cart_x, theta = 300 + float(state[0]) * scale, float(state[2])
    pivot = [round(cart_x / 600, 4), _PIVOT_Y]
    tip_x, tip_y = cart_x + pole_len * math.sin(theta), 107.5 + pole_len * math.cos(theta)
    return [
        *scenery,
        {"kind": "rect", "x": round((cart_x - 25) / 600, 4), "y": _f(1 - 115 / 400), "w": _CART_W, "h": _CART_H,
         "color": "#1f2328", "depth": 1},
        {"kind": "line", "points": [pivot, [round(tip_x / 600, 4), round(1 - tip_y / 400, 4)]], "width": 10,
         "color": "#ca9865", "depth": 2},
        {"kind": "circle", "x": pivot[0], "y": _PIVOT_Y, "r": _AXLE_R, "color": "#8184cb", "depth": 3},
    ]  # fmt: skip


def mountain_car(env: Any) -> list[dict[str, Any]]:
    """MountainCar (discrete or continuous) from `env.unwrapped.state`; 600x400 layout."""
    base, point = env.unwrapped, _screen(600, 400)
    low = float(getattr(base, "min_position", -1.2))
    high = float(getattr(base, "max_position", 0.6))
    goal = float(getattr(base, "goal_position", 0.5))
    scale = 600 / (high - low)

    def hill(pos: float) -> float:  # height above the bottom, in pixels
        return (math.sin(3 * pos) * 0.45 + 0.55) * scale

    curve = [point(i * 12.5, hill(low + i * 12.5 / scale)) for i in range(49)]
    fx, fy = (goal - low) * scale, hill(goal)
    flag = [point(fx, fy + 50), point(fx, fy + 40), point(fx + 25, fy + 45)]
    objects = [
        _shape("polygon", "#eef1f4", -2, "ground", points=[*curve, [1.0, 1.0], [0.0, 1.0]]),
        _shape("line", "#1f2328", -1, "hill", points=curve, width=2),
        _shape("line", "#1f2328", -1, "flagpole", points=[point(fx, fy), flag[0]], width=2),
        _shape("polygon", "#cccc00", -1, "flag", points=flag),
    ]
    state = _state(env)
    if state is None:
        return objects
    pos = float(state[0])
    angle = math.atan(1.35 * math.cos(3 * pos))  # slope of the hill under the car
    cos_a, sin_a = math.cos(angle), math.sin(angle)
    cx, cy = (pos - low) * scale, hill(pos) + 10  # 10 px of clearance, as Gymnasium

    def car(dx: float, dy: float) -> list[float]:
        return point(cx + dx * cos_a - dy * sin_a, cy + dx * sin_a + dy * cos_a)

    body = [car(-20, 0), car(-20, 20), car(20, 20), car(20, 0)]
    objects.append(_shape("polygon", "#1f2328", 1, points=body))
    for x, y in (car(-10, 0), car(10, 0)):
        objects.append(_shape("circle", "#808080", 2, x=x, y=y, r=_f(8 / 600)))
    return objects


def acrobot(env: Any) -> list[dict[str, Any]]:
    """Acrobot from `env.unwrapped.state` (theta1, theta2, ...); square layout."""
    base = env.unwrapped
    l1 = float(getattr(base, "LINK_LENGTH_1", 1.0))
    l2 = float(getattr(base, "LINK_LENGTH_2", 1.0))
    half = l1 + l2 + 0.2  # world units from the centre to the edge, as Gymnasium
    world = _screen(2 * half, 2 * half)

    def point(wx: float, wy: float) -> list[float]:  # world units, origin at the centre
        return world(wx + half, wy + half)

    goal = [point(-half, 1.0), point(half, 1.0)]  # the tip must rise above this line
    objects = [_shape("line", "#1f2328", -1, "goal", points=goal, width=2)]
    state = _state(env)
    if state is None:
        return objects
    t1, t2 = float(state[0]), float(state[1])
    joint = (l1 * math.sin(t1), -l1 * math.cos(t1))
    tip = (joint[0] + l2 * math.sin(t1 + t2), joint[1] - l2 * math.cos(t1 + t2))
    thickness = _f(500 * 0.2 / (2 * half))  # 0.2 world units on Gymnasium's 500 px screen
    for start, end in (((0.0, 0.0), joint), (joint, tip)):
        line = [point(*start), point(*end)]
        objects.append(_shape("line", "#00cccc", 1, points=line, width=thickness))
    for x, y in (point(0.0, 0.0), point(*joint)):
        objects.append(_shape("circle", "#cccc00", 2, x=x, y=y, r=_f(0.1 / (2 * half))))
    return objects


BUILTIN_RENDERERS: dict[str, Renderer] = {
    "CartPole-v0": cartpole,
    "CartPole-v1": cartpole,
    "MountainCar-v0": mountain_car,
    "MountainCarContinuous-v0": mountain_car,
    "Acrobot-v1": acrobot,
}
"""Gymnasium ids with a built-in renderer, used when the env has no `render_objects()`."""


def find_renderer(env_id: str | None) -> Renderer | None:
    """The built-in renderer for a registered Gymnasium id, or None."""
    if env_id is None:
        return None
    return BUILTIN_RENDERERS.get(env_id)
