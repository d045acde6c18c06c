"""Forage: a small cooperative gridworld in which two agents, blue and red, collect apples."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

ENV_ID = "gymkube/Forage-v0"
AGENTS = ("blue", "red")
COLORS = {"blue": "#1f6feb", "red": "#d73a49", "apple": "#2da44e"}
# Actions: 0 stay, 1 up, 2 down, 3 left, 4 right. Cells are (x, y) with y growing downwards.
MOVES = ((0, 0), (0, -1), (0, 1), (-1, 0), (1, 0))

Cell = tuple[int, int]


class ForageEnv(gymnasium.Env[dict[str, np.ndarray], dict[str, int]]):
    """Two agents move at once on a `size` x `size` grid; an apple reached gives +1 to both.

    The grid's edges are walls and the agents block each other: a move into the cell the
    partner keeps, two moves into the same cell, and swapping places all leave both agents
    where they were. A collected apple reappears at once on a random empty cell, so there
    are always `n_apples`. The episode never terminates; it is truncated after `max_steps`.

    Each agent observes [own x, own y, partner x, partner y, dx, dy to the nearest apple]:
    positions scaled to [-1, 1], offsets divided by `size - 1` (also within [-1, 1]).
    """

    metadata = {"render_modes": [], "render_fps": 8}

    def __init__(
        self,
        size: int = 7,
        n_apples: int = 3,
        max_steps: int = 200,
        render_mode: str | None = None,
    ) -> None:
        if not 2 <= size <= 32:
            raise ValueError(f"size must be between 2 and 32 (got {size})")
        if not 1 <= n_apples <= size * size - 2:
            raise ValueError(f"n_apples must be between 1 and {size * size - 2} (got {n_apples})")
        if max_steps < 1:
            raise ValueError(f"max_steps must be at least 1 (got {max_steps})")
        if render_mode is not None:
            raise ValueError("ForageEnv draws with render_objects(); render_mode must be None")
        self.size, self.n_apples, self.max_steps = size, n_apples, max_steps
        self.render_mode = render_mode
        self.action_space = spaces.Dict({agent: spaces.Discrete(len(MOVES)) for agent in AGENTS})
        box = spaces.Box(-1.0, 1.0, shape=(6,), dtype=np.float32)
        self.observation_space = spaces.Dict(dict.fromkeys(AGENTS, box))
        self._pos: dict[str, Cell] = {}
        self._apples: list[Cell] = []
        self._collected = dict.fromkeys(AGENTS, 0)
        self._steps = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Place both agents and the apples on distinct random cells."""
        super().reset(seed=seed)
        cells = self.np_random.choice(self.size * self.size, 2 + self.n_apples, replace=False)
        places = [self._cell(int(index)) for index in cells]
        self._pos = dict(zip(AGENTS, places[:2], strict=True))
        self._apples = places[2:]
        self._collected = dict.fromkeys(AGENTS, 0)
        self._steps = 0
        return self._observations(), self._info()

    def step(self, action: Mapping[str, int]) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Move both agents at once, collect apples, respawn them; reward is shared."""
        if not self._pos:
            raise RuntimeError("call reset() before step()")
        target = {agent: self._target(agent, action) for agent in AGENTS}
        blue, red = self._pos["blue"], self._pos["red"]
        if target["blue"] == target["red"] or (target["blue"], target["red"]) == (red, blue):
            target = {"blue": blue, "red": red}  # same cell (incl. the partner's), or a swap
        self._pos = target
        reward = 0.0
        for agent in AGENTS:
            if self._pos[agent] in self._apples:
                index = self._apples.index(self._pos[agent])
                self._apples[index] = self._free_cell()
                self._collected[agent] += 1
                reward += 1.0
        self._steps += 1
        truncated = self._steps >= self.max_steps
        return self._observations(), reward, False, truncated, self._info()

    def render_objects(self) -> list[dict[str, Any]]:
        """The grid (permanent), the apples and the agents, in canvas fractions."""
        cell = 1 / self.size
        objects: list[dict[str, Any]] = [
            {"id": "grid-bg", "kind": "rect", "x": 0.0, "y": 0.0, "w": 1.0, "h": 1.0,
             "color": "#f6f8fa", "depth": -2, "permanent": True},
        ]  # fmt: skip
        for i in range(1, self.size):
            at = round(i * cell, 4)
            for name, points in (("v", [[at, 0.0], [at, 1.0]]), ("h", [[0.0, at], [1.0, at]])):
                objects.append(
                    {"id": f"grid-{name}{i}", "kind": "line", "points": points, "width": 1,
                     "color": "#d0d7de", "depth": -1, "permanent": True}
                )  # fmt: skip
        for x, y in self._apples:
            objects.append(
                {"kind": "circle", "x": round((x + 0.5) * cell, 4),
                 "y": round((y + 0.5) * cell, 4), "r": round(0.3 * cell, 4),
                 "color": COLORS["apple"], "depth": 1}
            )  # fmt: skip
        for agent, (x, y) in self._pos.items():
            objects.append(
                {"id": agent, "kind": "rect", "x": round((x + 0.12) * cell, 4),
                 "y": round((y + 0.12) * cell, 4), "w": round(0.76 * cell, 4),
                 "h": round(0.76 * cell, 4), "color": COLORS[agent], "depth": 2}
            )  # fmt: skip
        return objects

    def _cell(self, index: int) -> Cell:
        return index % self.size, index // self.size

    def _target(self, agent: str, action: Mapping[str, int]) -> Cell:
        try:
            move = int(action[agent])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"step() needs an action for each of {AGENTS}; got {action!r}") from exc
        if not 0 <= move < len(MOVES):
            raise ValueError(f"{agent}'s action must be 0..{len(MOVES) - 1} (got {move})")
        (x, y), (dx, dy) = self._pos[agent], MOVES[move]
        return min(max(x + dx, 0), self.size - 1), min(max(y + dy, 0), self.size - 1)

    def _free_cell(self) -> Cell:
        taken = set(self._pos.values()) | set(self._apples)
        free = [c for c in map(self._cell, range(self.size * self.size)) if c not in taken]
        return free[int(self.np_random.integers(len(free)))]

    def _nearest_apple(self, x: int, y: int) -> Cell:
        return min(self._apples, key=lambda apple: abs(apple[0] - x) + abs(apple[1] - y))

    def _observations(self) -> dict[str, np.ndarray]:
        span = self.size - 1
        observations = {}
        for agent, partner in zip(AGENTS, reversed(AGENTS), strict=True):
            (x, y), (px, py) = self._pos[agent], self._pos[partner]
            ax, ay = self._nearest_apple(x, y)
            values = [2 * x / span - 1, 2 * y / span - 1, 2 * px / span - 1, 2 * py / span - 1]
            values += [(ax - x) / span, (ay - y) / span]
            observations[agent] = np.array(values, dtype=np.float32)
        return observations

    def _info(self) -> dict[str, Any]:
        return {f"{agent}_apples": self._collected[agent] for agent in AGENTS}


def make_env(**kwargs: Any) -> ForageEnv:
    """The manifest's entry point (`forage_env:make_env`); kwargs go to ForageEnv."""
    return ForageEnv(**kwargs)


if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point=ForageEnv)
