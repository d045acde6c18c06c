"""A gym scene's researcher code during play: its hooks and the HUD from code, guarded and bounded.

The same on the pod (server mode) and in the browser (client and p2p modes, under Pyodide). A hook is
an object of the experiment's own class (`hooks: module:Class`) with any of these methods, called with
keyword arguments (take `**_` to ignore the rest):

- `on_episode_start(env, episode, seed)` after the reset;
- `on_step(env, step, actions, observation, reward, terminated, truncated, info)` after each step; it may
  return a dict: its entries are recorded as `hook_<name>` columns of the step, and the entry `hud`
  (text) is shown as the heads-up line from then on;
- `on_episode_end(env, episode, status, steps, score)`; it may return a number (recorded as the episode's
  `bonus`) or a dict (`bonus`, and other entries as `hook_<name>` columns of the episode row);
- `on_game_end(env, episodes)` once the scene's last episode is over.

Whatever a hook returns is bounded before it reaches a row: at most `MAX_HOOK_COLUMNS` columns named
with letters, digits and `_`, each a number, a bool, None or text of at most `MAX_HOOK_TEXT` characters.
A hook that raises, or returns something else, is reported once per game (`take_error`) and counted;
the game goes on. Replays re-run the environment without hooks: a hook must not change the environment.
"""

from __future__ import annotations

import math
import re
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from gymkube.portable.common import hud_text, import_entry_point

MAX_HOOK_COLUMNS = 16
MAX_HOOK_TEXT = 200
HOOK_COLUMN = re.compile(r"^[A-Za-z0-9_]{1,40}$")
HOOK_PREFIX = "hook_"
MAX_NUMBER = 2.0**53
MAX_ERROR_CHARS = 500


class HookOutputError(ValueError):
    """What a hook returned cannot be recorded (the rest of what it returned is)."""


def hook_value(value: Any) -> float | bool | str | None:
    """One value a hook returned, as a table cell: None, a bool, a finite float or bounded text; else an error."""
    if value is None or isinstance(value, bool):
        return value
    numpy_scalar = hasattr(value, "dtype") and getattr(value, "ndim", 1) == 0
    if numpy_scalar and value.dtype.kind == "b":
        return bool(value)
    if isinstance(value, int | float) or numpy_scalar:
        try:
            number = float(value)
        except (OverflowError, TypeError, ValueError):
            raise HookOutputError(f"{value!r} is not a number a column can hold") from None
        if not math.isfinite(number) or abs(number) >= MAX_NUMBER:
            raise HookOutputError(f"{number!r} is not a finite number below 2**53")
        return number
    if isinstance(value, str):
        return value[:MAX_HOOK_TEXT]
    raise HookOutputError(f"a {type(value).__name__} cannot be a column (numbers, bools, text or None)")


def hook_columns(values: Mapping[Any, Any]) -> tuple[dict[str, Any], list[str]]:
    """`values` as `hook_<name>` columns, and what had to be left out (bad names, values, too many)."""
    columns: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in values.items():
        if not isinstance(name, str) or not HOOK_COLUMN.match(name):
            problems.append(f"column name {str(name)[:40]!r} (letters, digits and _, at most 40)")
            continue
        if len(columns) >= MAX_HOOK_COLUMNS:
            problems.append(f"more than {MAX_HOOK_COLUMNS} columns")
            break
        try:
            columns[HOOK_PREFIX + name] = hook_value(value)
        except HookOutputError as exc:
            problems.append(f"column {name!r}: {exc}")
    return columns, problems


class GameHooks:
    """The hooks object and the HUD source of one game; every call guarded, every output bounded."""

    def __init__(self, hooks: str | None, hud: str | Mapping[str, Any], search_dir: Any, env: Any) -> None:
        self.env = env
        self.target = import_entry_point(hooks, search_dir)() if hooks else None
        self.template = hud if isinstance(hud, str) else ""
        self.hud_function: Callable[[Any], Any] | None = None
        if isinstance(hud, Mapping) and hud.get("function"):
            function = import_entry_point(str(hud["function"]), search_dir)
            self.hud_function = lambda environment: function(environment)
        elif isinstance(hud, Mapping) and hud.get("environment"):
            self.hud_function = lambda environment: getattr(environment, "unwrapped", environment).hud_text()
        self.hud_override: str | None = None
        """The HUD text the hooks' `on_step` returned last (it wins over the scene's `hud`)."""
        self.last_hud = ""
        self.errors = 0
        self.episode_errors = 0
        self._first_error: dict[str, Any] | None = None
        self._reported = False

    @property
    def active(self) -> bool:
        """Whether the scene has hooks (its episode rows then carry `hook_errors`)."""
        return self.target is not None

    def _failed(self, method: str, problem: str) -> None:
        self.errors += 1
        self.episode_errors += 1
        if self._first_error is None:
            self._first_error = {"method": method, "error": problem[:MAX_ERROR_CHARS], "count_so_far": self.errors}

    def _call(self, method: str, **arguments: Any) -> Any:
        function = getattr(self.target, method, None)
        if not callable(function):
            return None
        try:
            return function(env=self.env, **arguments)
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1]
            self._failed(method, f"{type(exc).__name__}: {exc} ({where.filename.rsplit('/', 1)[-1]}:{where.lineno})")
            return None

    def take_error(self) -> dict[str, Any] | None:
        """The game's first hook problem, once (the game records it once); None otherwise."""
        if self._first_error is None or self._reported:
            return None
        self._reported = True
        return self._first_error

    # the hooks -------------------------------------------------------------------------

    def episode_start(self, episode: int, seed: int) -> None:
        """After the reset of `episode`."""
        self.episode_errors = 0
        self.hud_override = None
        self._call("on_episode_start", episode=episode, seed=seed)

    def step(self, step: int, actions: Any, observation: Any, reward: Any, terminated: bool, truncated: bool,
             info: Any) -> dict[str, Any]:  # fmt: skip
        """After a step: the step's `hook_*` columns (the HUD text it returned is kept for the next frames)."""
        result = self._call("on_step", step=step, actions=actions, observation=observation, reward=reward,
                            terminated=terminated, truncated=truncated, info=info)  # fmt: skip
        if result is None:
            return {}
        if not isinstance(result, Mapping):
            self._failed("on_step", f"returned a {type(result).__name__}; a dict of columns (and 'hud') is expected")
            return {}
        values = dict(result)
        hud = values.pop("hud", None)
        if hud is not None:
            self.hud_override = str(hud)[:MAX_HOOK_TEXT]
        columns, problems = hook_columns(values)
        if problems:
            self._failed("on_step", "left out: " + "; ".join(problems))
        return columns

    def episode_end(self, episode: int, status: str, steps: int, score: float) -> dict[str, Any]:
        """At the end of an episode: the episode row's `bonus`, `hook_*` columns and `hook_errors`."""
        result = self._call("on_episode_end", episode=episode, status=status, steps=steps, score=score)
        row: dict[str, Any] = {"bonus": None}
        if isinstance(result, Mapping):
            values = dict(result)
            bonus = values.pop("bonus", None)
            columns, problems = hook_columns(values)
            row |= columns
        else:
            bonus, problems = result, []
        try:
            value = hook_value(bonus)
            if isinstance(value, str):
                raise HookOutputError("the bonus must be a number")
            row["bonus"] = float(value) if value is not None else None
        except HookOutputError as exc:
            problems.append(f"bonus: {exc}")
        if problems:
            self._failed("on_episode_end", "left out: " + "; ".join(problems))
        return row | ({"hook_errors": self.episode_errors} if self.active else {})

    def game_end(self, episodes: int) -> None:
        """Once the scene's episodes are over."""
        self._call("on_game_end", episodes=episodes)

    # the heads-up line -------------------------------------------------------------------

    def hud(self, **values: Any) -> str:
        """The heads-up line now: the hooks' text, else the scene's function, env.hud_text() or template."""
        if self.hud_override is not None:
            return self.hud_override
        if self.hud_function is None:
            return hud_text(self.template, **values)
        try:
            self.last_hud = str(self.hud_function(self.env))[:MAX_HOOK_TEXT]
        except Exception as exc:
            self._failed("hud", f"{type(exc).__name__}: {exc}")
        return self.last_hud

    def get_state(self) -> dict[str, Any]:
        """What a rollback snapshot keeps (p2p): the HUD text, and the hooks object's own `get_state()` if any."""
        state: dict[str, Any] = {"hud": self.hud_override}
        getter = getattr(self.target, "get_state", None)
        if callable(getter):
            state["hooks"] = getter()
        return state

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Go back to a snapshot's hooks state."""
        self.hud_override = state.get("hud")
        setter = getattr(self.target, "set_state", None)
        if "hooks" in state and callable(setter):
            setter(state["hooks"])
