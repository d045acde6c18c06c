"""Checks of a renderer's output: kinds, keys and types of each object, and sprites against the scene's atlases."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_NUM = "number"
_COMMON: dict[str, str] = {
    "id": "str",
    "kind": "str",
    "depth": "int",
    "color": "str",
    "permanent": "bool",
    "alpha": "alpha",
    "tween": "tween",
}
_KINDS: dict[str, tuple[tuple[str, ...], dict[str, str]]] = {
    "rect": (("x", "y", "w", "h"), {"fill": "bool", "angle": _NUM, "lineWidth": _NUM}),
    "circle": (("x", "y", "r"), {"fill": "bool", "lineWidth": _NUM}),
    "line": (("points",), {"width": _NUM}),
    "polygon": (("points",), {"fill": "bool", "lineWidth": _NUM}),
    "text": (("x", "y", "text"), {"size": _NUM, "align": "str"}),
    "image": (("x", "y", "w", "h", "src"), {"angle": _NUM}),
    "sprite": (("x", "y", "atlas", "frame"), {"w": _NUM, "h": _NUM, "scale": _NUM, "angle": _NUM, "flip": "flip"}),
}
_TYPES: dict[str, str] = {
    "x": _NUM,
    "y": _NUM,
    "w": _NUM,
    "h": _NUM,
    "r": _NUM,
    "text": "str",
    "src": "str",
    "points": "points",
    "atlas": "str",
    "frame": "str",
}
_MIN_POINTS = {"line": 2, "polygon": 3}


def _plain_problem(value: Any) -> str | None:
    """Why `value` cannot go on the wire as plain msgpack data, or None."""
    if isinstance(value, np.ndarray):
        return "is a numpy array (use .tolist())"
    if isinstance(value, np.generic):
        return f"is a numpy {type(value).__name__} (convert with float(), int() or str())"
    if isinstance(value, float) and not math.isfinite(value):
        return f"is {value} (not a finite number)"
    if isinstance(value, list | tuple | dict):
        items = value.values() if isinstance(value, dict) else value
        problem = next(filter(None, (_plain_problem(item) for item in items)), None)
        return problem and "holds a value that " + problem.removeprefix("holds a value that ")
    if value is None or isinstance(value, str | bool | int | float):
        return None
    return f"is of type {type(value).__name__}, not plain data (str, number, bool or list)"


def _type_problem(value: Any, expected: str, kind: str) -> str | None:
    if expected == "points":
        if not isinstance(value, list | tuple):
            return "must be a list of [x, y] points"
        for point in value:
            if (
                not isinstance(point, list | tuple)
                or len(point) != 2
                or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in point)
            ):
                return "must be a list of [x, y] points (pairs of numbers)"
        if len(value) < _MIN_POINTS.get(kind, 0):
            return f"needs at least {_MIN_POINTS[kind]} points for a {kind}"
        return None
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if expected == "alpha":
        return None if number and 0 <= value <= 1 else "must be a number from 0 (invisible) to 1 (opaque)"
    if expected == "flip":
        return None if value in (True, False, "x", "y", "xy") else "must be true, false, 'x', 'y' or 'xy'"
    if expected == "tween":
        ms = value.get("ms") if isinstance(value, dict) else None
        fits = isinstance(ms, int | float) and not isinstance(ms, bool) and 0 <= ms <= 10_000
        return None if fits and set(value) == {"ms"} else "must be {ms: N} with N from 0 to 10000 milliseconds"
    ok = {
        _NUM: number,
        "int": isinstance(value, int) and not isinstance(value, bool),
        "str": isinstance(value, str),
        "bool": isinstance(value, bool),
    }[expected]
    return None if ok else f"must be a {'number' if expected == _NUM else expected}"


def _sprite_problem(obj: dict[str, Any], atlases: dict[str, set[str]]) -> str | None:
    atlas, frame = obj.get("atlas"), obj.get("frame")
    if not isinstance(atlas, str) or not isinstance(frame, str):
        return None  # said already
    if atlas not in atlases:
        named = ", ".join(sorted(atlases)) or "none"
        return f"'atlas' {atlas!r} is not one of the scene's rendering.atlases ({named})"
    if frame not in atlases[atlas]:
        return f"'frame' {frame!r} is not in atlas {atlas!r}"
    return None


def _object_problems(obj: Any, ids: set[str], atlases: dict[str, set[str]] | None = None) -> list[str]:
    if not isinstance(obj, dict):
        return [f"is of type {type(obj).__name__}, not a dict"]
    problems = [f"key {key!r} is not a string" for key in obj if not isinstance(key, str)]
    for key, value in obj.items():
        problem = _plain_problem(value)
        if problem:
            problems.append(f"'{key}' {problem}")
    kind = obj.get("kind")
    if kind not in _KINDS:
        known = ", ".join(_KINDS)
        problems.append(f"'kind' is {kind!r}; expected one of {known}")
        return problems
    required, optional = _KINDS[kind]
    missing = [key for key in required if key not in obj]
    if missing:
        problems.append(f"a {kind} needs {', '.join(repr(k) for k in missing)}")
    for key, value in obj.items():
        expected = _COMMON.get(key) or optional.get(key)
        if expected is None and key in required:
            expected = _TYPES[key]
        bad = expected and _type_problem(value, expected, kind)
        if bad and not any(p.startswith(f"'{key}' ") for p in problems):
            problems.append(f"'{key}' {bad}")
    if kind == "text" and obj.get("align", "left") not in ("left", "center", "right"):
        problems.append(f"'align' is {obj['align']!r}; expected left, center or right")
    sprite_problem = _sprite_problem(obj, atlases) if kind == "sprite" and atlases is not None else None
    if sprite_problem:
        problems.append(sprite_problem)
    src = obj.get("src")
    if kind == "image" and isinstance(src, str) and (src.startswith("/") or ":" in src):
        problems.append(f"'src' is {src!r}; use a URL relative to the page, like files/a.png")
    obj_id = obj.get("id")
    if obj.get("permanent") is True and not (isinstance(obj_id, str) and obj_id):
        problems.append("a permanent object needs an 'id' (a non-empty string)")
    if isinstance(obj_id, str):
        if obj_id in ids:
            problems.append(f"'id' {obj_id!r} is used by another object in the same list")
        ids.add(obj_id)
    return problems


def validate_objects(objects: Any, limit: int = 20, atlases: dict[str, set[str]] | None = None) -> list[str]:
    """Human-readable problems with a renderer's output (empty when it can be sent as is).

    Checks that `objects` is a list of dicts of a known `kind` with the keys that kind needs,
    of the right types, holding plain finite numbers (no numpy scalars or arrays, no NaN), that
    permanent objects have ids and that ids are not repeated; with `atlases` (frame names by atlas),
    that every sprite names an atlas and a frame that exist. At most `limit` problems.
    """
    if not isinstance(objects, list):
        return [f"the renderer returned {type(objects).__name__}, not a list of objects"]
    problems: list[str] = []
    ids: set[str] = set()
    for index, obj in enumerate(objects):
        name = f"object {index}"
        if isinstance(obj, dict) and isinstance(obj.get("id"), str):
            name += f" (id {obj['id']!r})"
        problems.extend(f"{name}: {problem}" for problem in _object_problems(obj, ids, atlases))
        if len(problems) >= limit:
            return problems[:limit] + ["... (further problems not shown)"]
    return problems
