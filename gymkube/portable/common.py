"""Observation hashes, the HUD line, objects frames and entry points: the same on the pod and in the browser."""

from __future__ import annotations

import hashlib
import importlib
import json
import struct
import sys
from collections.abc import Callable, Iterable
from typing import Any

try:  # on the pod always; in the browser only when an experiment lists numpy
    import numpy as _np
except ImportError:  # pragma: no cover - exercised in the browser
    _np = None  # type: ignore[assignment]


def observation_hash(observation: Any) -> str:
    """A short, stable hash of an observation (dicts hashed by sorted key).

    Values are hashed as numpy would lay them out (`np.ascontiguousarray(v).tobytes()`); without
    numpy, lists, tuples and scalars of bools, ints, floats and strings give the same bytes, so a
    step recorded in the browser replays on the pod with an equal hash.
    """
    digest = hashlib.blake2b(digest_size=8)
    if isinstance(observation, dict):
        for key in sorted(observation):
            digest.update(str(key).encode())
            digest.update(value_bytes(observation[key]))
    else:
        digest.update(value_bytes(observation))
    return digest.hexdigest()


def value_bytes(value: Any) -> bytes:
    """The bytes numpy would give for `value` as a C-contiguous array."""
    if _np is not None:
        return bytes(_np.ascontiguousarray(value).tobytes())
    return pure_value_bytes(value)


def _leaves(value: Any, shape: list[int], depth: int, out: list[Any]) -> None:
    if isinstance(value, list | tuple):
        if depth == len(shape):
            if out:  # a scalar was seen at this depth before: ragged
                raise ValueError("the observation is ragged")
            shape.append(len(value))
        elif shape[depth] != len(value):
            raise ValueError("the observation is ragged")
        for item in value:
            _leaves(item, shape, depth + 1, out)
        return
    if depth != len(shape):
        raise ValueError("the observation is ragged")
    out.append(value)


def pure_value_bytes(value: Any) -> bytes:
    """`value_bytes` without numpy: bool, int64, float64 or UCS-4 strings, as numpy infers the dtype."""
    if hasattr(value, "tobytes"):
        return bytes(value.tobytes())
    leaves: list[Any] = []
    _leaves(value, [], 0, leaves)
    if all(isinstance(v, bool) for v in leaves):
        return bytes(1 if v else 0 for v in leaves)
    if all(isinstance(v, str) for v in leaves):
        width = max((len(v) for v in leaves), default=1)
        return b"".join(v.ljust(width, "\0").encode("utf-32-le") for v in leaves)
    if all(isinstance(v, int) for v in leaves):  # bools among ints count as 0 and 1
        return struct.pack(f"<{len(leaves)}q", *leaves)
    if all(isinstance(v, int | float) for v in leaves):
        return struct.pack(f"<{len(leaves)}d", *leaves)
    raise TypeError(f"cannot hash an observation holding {sorted({type(v).__name__ for v in leaves})}")


def _listed(value: Any) -> Any:
    return value.tolist() if hasattr(value, "tolist") else str(value)


def plain_value(value: Any) -> Any:
    """A value as one table cell: None, bool, float, str, or JSON for anything else."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    if hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0:  # a numpy scalar
        return bool(value) if value.dtype.kind == "b" else float(value)
    return json.dumps(value, default=_listed)


def flatten_info(info: dict[str, Any], prefix: str = "info_") -> dict[str, Any]:
    """Info as flat columns: nested keys joined with '_', numbers as floats."""
    flat: dict[str, Any] = {}
    for key, value in info.items():
        if str(key).startswith("_"):
            continue
        if isinstance(value, dict):
            flat.update(flatten_info(value, f"{prefix}{key}_"))
        else:
            flat[f"{prefix}{key}"] = plain_value(value)
    return flat


def step_columns(
    humans: Iterable[str],
    observation: Any,
    reward: Any,
    terminated: Any,
    truncated: bool,
    info: dict[str, Any],
    record_observations: bool,
) -> tuple[dict[str, Any], float]:
    """A step row's columns from `env.step`'s result (`truncated` already counting maxSteps), and the score's reward.

    A dict reward is recorded per agent (`reward_<agent>`); the reward that counts is the human agents' sum
    (every agent's when no human has one).
    """
    columns: dict[str, Any] = {}
    if isinstance(reward, dict):
        for agent, value in reward.items():
            columns[f"reward_{agent}"] = float(value)
        mine = [float(reward[a]) for a in humans if a in reward]
        reward = sum(mine) if mine else sum(float(v) for v in reward.values())
    columns |= {"reward": float(reward), "terminated": bool(terminated), "truncated": bool(truncated),
                "obs_hash": observation_hash(observation)}  # fmt: skip
    if record_observations:
        columns["obs"] = plain_value(observation)
    columns.update(flatten_info(info))
    return columns, float(reward)


class SafeFormat(dict[str, Any]):
    """`str.format_map` values where an unknown `{name}` stays as it is."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def format_score(score: float) -> str:
    """An integer score without decimals, others with one."""
    return str(int(score)) if float(score).is_integer() else f"{score:.1f}"


def hud_text(template: str, *, episode: int, episodes: int, score: float, step: int, max_steps: int) -> str:
    """The heads-up line from a scene's template."""
    values = SafeFormat(episode=episode, episodes=episodes, score=format_score(score), step=step, max_steps=max_steps)
    return template.format_map(values)


def split_objects(
    objects: Iterable[dict[str, Any]], sent_permanent: set[str]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """An objects frame as (current, permanent not sent before); `sent_permanent` is updated."""
    current: list[dict[str, Any]] = []
    permanent: list[dict[str, Any]] = []
    for obj in objects:
        if obj.get("permanent"):
            key = str(obj.get("id"))
            if key not in sent_permanent:
                sent_permanent.add(key)
                permanent.append(obj)
        else:
            current.append(obj)
    return current, permanent


def import_entry_point(entry_point: str, search_dir: Any = None) -> Callable[..., Any]:
    """`module:callable`, importing from `search_dir` (the experiment's own files) first."""
    if search_dir is not None and str(search_dir) not in sys.path:
        sys.path.insert(0, str(search_dir))
    module_name, _, attribute = entry_point.partition(":")
    module = importlib.import_module(module_name)
    target = getattr(module, attribute)
    if not callable(target):
        raise TypeError(f"{entry_point} is not callable")
    return target
