"""Forage: a small cooperative gridworld in which agents (by default blue and red) collect apples."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium
import numpy as np
from gymnasium import spaces

ENV_ID = "gymkube/Forage-v0"
AGENTS = ("blue", "red")  # the default; any 2 to 6 names can be passed as `agents`
MAX_AGENTS = 6
AGENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,31}")
# Agents with these names always get these colours; the apples are #2da44e, so "green" is lime.
AGENT_COLORS = {
    "blue": "#1f6feb", "red": "#d73a49", "purple": "#8250df", "orange": "#bc4c00",
    "teal": "#1b7c83", "yellow": "#bf8700", "green": "#84cc16",
}  # fmt: skip
# Any other name gets the first of these (in this order) that no agent of the env has yet.
PALETTE = tuple(AGENT_COLORS.values())
COLORS = {**AGENT_COLORS, "apple": "#2da44e"}
# Actions: 0 stay, 1 up, 2 down, 3 left, 4 right. Cells are (x, y) with y growing downwards.
MOVES = ((0, 0), (0, -1), (0, 1), (-1, 0), (1, 0))

Cell = tuple[int, int]


class ForageEnv(gymnasium.Env[dict[str, np.ndarray], dict[str, int]]):
    """`agents` (2 to 6, default blue and red) move at once on a `size` x `size` grid; the
    reward for each apple reached, +1, is shared by all.

    The grid's edges are walls and the agents block each other: a move into a cell that
    another agent ends up in (staying or moving), two or more moves into the same cell, and
    two agents swapping places all leave the agents involved where they were. This repeats
    until nothing changes, since an agent held back may block one moving into its cell (a
    chain of agents each moving into the cell the next one leaves does move). A collected
    apple reappears at once on a random empty cell, so there are always `n_apples`. The
    episode never terminates; it is truncated after `max_steps`.

    Each agent observes [own x, own y, partner x, partner y, dx, dy to the nearest apple],
    where its partner is the next agent in `agents` (the last one's is the first): positions
    scaled to [-1, 1], offsets divided by `size - 1` (also within [-1, 1]).

    Keys of the action and observation spaces are the agent names, info has
    `{agent}_apples` for each, and render_objects() draws each agent with its name as `id`.
    """

    metadata = {"render_modes": [], "render_fps": 8}

    def __init__(
        self,
        size: int = 7,
        n_apples: int = 3,
        max_steps: int = 200,
        render_mode: str | None = None,
        agents: Sequence[str] = AGENTS,
    ) -> None:
        self.agents = _check_agents(agents)
        n_agents = len(self.agents)
        if not 2 <= size <= 32:
            raise ValueError(f"size must be between 2 and 32 (got {size})")
        if size * size < n_agents + 1:
            raise ValueError(f"a {size}x{size} grid has no room for {n_agents} agents and an apple")
        if not 1 <= n_apples <= size * size - n_agents:
            limit = size * size - n_agents
            where = "" if self.agents == AGENTS else f" with {n_agents} agents on a {size}x{size} grid"
            raise ValueError(f"n_apples must be between 1 and {limit}{where} (got {n_apples})")
        if max_steps < 1:
            raise ValueError(f"max_steps must be at least 1 (got {max_steps})")
        if render_mode is not None:
            raise ValueError("ForageEnv draws with render_objects(); render_mode must be None")
        self.size, self.n_apples, self.max_steps = size, n_apples, max_steps
        self.render_mode = render_mode
        self.colors = _agent_colors(self.agents)
        # (name, space) pairs keep the agents' order; a dict would be sorted by name.
        self.action_space = spaces.Dict([(agent, spaces.Discrete(len(MOVES))) for agent in self.agents])
        box = spaces.Box(-1.0, 1.0, shape=(6,), dtype=np.float32)
        self.observation_space = spaces.Dict([(agent, box) for agent in self.agents])
        self._pos: dict[str, Cell] = {}
        self._apples: list[Cell] = []
        self._collected = dict.fromkeys(self.agents, 0)
        self._steps = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Place the agents and the apples on distinct random cells."""
        super().reset(seed=seed)
        n_agents = len(self.agents)
        cells = self.np_random.choice(self.size * self.size, n_agents + self.n_apples, replace=False)
        places = [self._cell(int(index)) for index in cells]
        self._pos = dict(zip(self.agents, places[:n_agents], strict=True))
        self._apples = places[n_agents:]
        self._collected = dict.fromkeys(self.agents, 0)
        self._steps = 0
        return self._observations(), self._info()

    def step(self, action: Mapping[str, int]) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Move all agents at once, collect apples, respawn them; reward is shared."""
        if not self._pos:
            raise RuntimeError("call reset() before step()")
        self._pos = self._resolve({agent: self._target(agent, action) for agent in self.agents})
        reward = 0.0
        for agent in self.agents:
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
                 "h": round(0.76 * cell, 4), "color": self.colors[agent], "depth": 2}
            )  # fmt: skip
        return objects

    def _cell(self, index: int) -> Cell:
        return index % self.size, index // self.size

    def _target(self, agent: str, action: Mapping[str, int]) -> Cell:
        try:
            move = int(action[agent])
        except (KeyError, TypeError) as exc:
            raise ValueError(f"step() needs an action for each of {self.agents}; got {action!r}") from exc
        if not 0 <= move < len(MOVES):
            raise ValueError(f"{agent}'s action must be 0..{len(MOVES) - 1} (got {move})")
        (x, y), (dx, dy) = self._pos[agent], MOVES[move]
        return min(max(x + dx, 0), self.size - 1), min(max(y + dy, 0), self.size - 1)

    def _resolve(self, target: dict[str, Cell]) -> dict[str, Cell]:
        """Hold back moves into a cell someone else ends up in and swaps, until none is left."""
        target = dict(target)
        at = {cell: agent for agent, cell in self._pos.items()}
        while True:
            claims = Counter(target.values())
            held = [
                agent
                for agent, cell in target.items()
                if cell != self._pos[agent]
                and (claims[cell] > 1 or (cell in at and target[at[cell]] == self._pos[agent]))
            ]
            if not held:
                return target
            for agent in held:
                target[agent] = self._pos[agent]

    def _free_cell(self) -> Cell:
        taken = set(self._pos.values()) | set(self._apples)
        free = [c for c in map(self._cell, range(self.size * self.size)) if c not in taken]
        return free[int(self.np_random.integers(len(free)))]

    def _nearest_apple(self, x: int, y: int) -> Cell:
        return min(self._apples, key=lambda apple: abs(apple[0] - x) + abs(apple[1] - y))

    def _observations(self) -> dict[str, np.ndarray]:
        span = self.size - 1
        observations = {}
        partners = self.agents[1:] + self.agents[:1]
        for agent, partner in zip(self.agents, partners, strict=True):
            (x, y), (px, py) = self._pos[agent], self._pos[partner]
            ax, ay = self._nearest_apple(x, y)
            values = [2 * x / span - 1, 2 * y / span - 1, 2 * px / span - 1, 2 * py / span - 1]
            values += [(ax - x) / span, (ay - y) / span]
            observations[agent] = np.array(values, dtype=np.float32)
        return observations

    def _info(self) -> dict[str, Any]:
        return {f"{agent}_apples": self._collected[agent] for agent in self.agents}


def _check_agents(agents: Sequence[str]) -> tuple[str, ...]:
    """`agents` as a tuple, or a ValueError saying what is wrong with it."""
    if isinstance(agents, str) or not isinstance(agents, Sequence):
        raise ValueError(f"agents must be a list of agent names such as ['blue', 'red'] (got {agents!r})")
    names = tuple(agents)
    if not 2 <= len(names) <= MAX_AGENTS:
        raise ValueError(f"agents must name 2 to {MAX_AGENTS} agents (got {len(names)}: {list(names)!r})")
    for name in names:
        if not isinstance(name, str) or not AGENT_NAME.fullmatch(name):
            raise ValueError(
                f"agent name {name!r} is not valid: use 1 to 32 letters, digits or underscores, "
                "not starting with a digit"
            )
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise ValueError(f"agent names must be unique; repeated: {', '.join(repeated)}")
    return names


def _agent_colors(agents: tuple[str, ...]) -> dict[str, str]:
    """AGENT_COLORS for known names; the others take unused PALETTE colours in order."""
    colors = {agent: AGENT_COLORS[agent] for agent in agents if agent in AGENT_COLORS}
    spare = iter(color for color in PALETTE if color not in colors.values())
    return {agent: colors[agent] if agent in colors else next(spare) for agent in agents}


def make_env(**kwargs: Any) -> ForageEnv:
    """The manifest's entry point (`forage_env:make_env`); kwargs go to ForageEnv."""
    return ForageEnv(**kwargs)


if ENV_ID not in gymnasium.registry:
    gymnasium.register(id=ENV_ID, entry_point=ForageEnv)
