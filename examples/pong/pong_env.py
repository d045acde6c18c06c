"""Two-paddle Pong in pure Python: runs on the game pod and in the browser (Pyodide) alike.

Agents `left` and `right` move their paddle: 0 stay, 1 up, 2 down. The two players are a team:
every return scores 1 for both; a ball that gets past a paddle is a miss, and the episode ends after
`max_misses` misses. Everything is integer arithmetic on a small grid, so every browser steps it
identically (what `p2p` mode needs), and its whole state is a small JSON document
(`get_state`/`set_state`), which rollback and resynchronisation use.

It imports nothing beyond the standard library: no numpy, no gymnasium (the browser has neither
unless the experiment installs them). `action_space` has the two methods gymkube's random player uses.
"""

from __future__ import annotations

import random
from typing import Any

AGENTS = ("left", "right")
"""The default; `agents` may name more paddles, each defending the side its name starts with (`left2`)."""
STAY, UP, DOWN = 0, 1, 2


class Discrete:
    """A seeded choice of n actions (the part of gymnasium.spaces.Discrete that gymkube uses)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._rng = random.Random(0)

    def seed(self, seed: int | None = None) -> None:
        self._rng.seed(seed)

    def sample(self) -> int:
        return self._rng.randrange(self.n)


class PongEnv:
    """Cooperative Pong on a `width` x `height` grid of cells."""

    def __init__(
        self,
        width: int = 48,
        height: int = 32,
        paddle: int = 8,
        max_misses: int = 3,
        ball_every: int = 1,
        agents: tuple[str, ...] | list[str] = AGENTS,
    ) -> None:
        self.width, self.height, self.paddle = width, height, paddle
        self.max_misses, self.ball_every = max_misses, ball_every
        self.agents = tuple(agents)
        self.sides = {side: [a for a in self.agents if a.startswith(side)] for side in ("left", "right")}
        if not all(self.sides.values()) or len(set(self.agents)) != len(self.agents):
            raise ValueError("agents: distinct names, at least one starting with 'left' and one with 'right'")
        if any(not a.startswith(("left", "right")) for a in self.agents):
            raise ValueError("agents: every name starts with the side it defends, 'left' or 'right'")
        self.action_space = {agent: Discrete(3) for agent in self.agents}
        self.rng = random.Random(0)
        self.t = 0
        self.paddles = dict.fromkeys(self.agents, (height - paddle) // 2)
        self.ball = [width // 2, height // 2]
        self.velocity = [1, 1]
        self.misses = 0
        self.returns = 0

    # Gymnasium's reset/step shape -------------------------------------------------------

    def reset(self, seed: int | None = None, options: Any = None) -> tuple[dict[str, list[float]], dict[str, Any]]:
        self.rng = random.Random(seed)
        self.t = 0
        self.paddles = dict.fromkeys(self.agents, (self.height - self.paddle) // 2)
        self.misses = 0
        self.returns = 0
        self._serve()
        return self._observations(), {}

    def step(self, action: dict[str, int]) -> tuple[dict[str, list[float]], dict[str, float], bool, bool, dict]:
        self.t += 1
        for agent in self.agents:
            move = {UP: -1, DOWN: 1}.get(int(action.get(agent, STAY)), 0)
            self.paddles[agent] = min(max(self.paddles[agent] + move, 0), self.height - self.paddle)
        rewards = dict.fromkeys(self.agents, 0.0)
        if self.t % self.ball_every == 0:
            rewards = self._move_ball()
        terminated = self.misses >= self.max_misses
        info = {"misses": self.misses, "returns": self.returns}
        return self._observations(), rewards, terminated, False, info

    def close(self) -> None:
        pass

    # what rollback needs ------------------------------------------------------------------

    def get_state(self) -> dict[str, Any]:
        """Everything that decides the future, as plain JSON."""
        version, internal, gauss = self.rng.getstate()
        return {"t": self.t, "paddles": dict(self.paddles), "ball": list(self.ball), "velocity": list(self.velocity),
                "misses": self.misses, "returns": self.returns, "rng": [version, list(internal), gauss]}  # fmt: skip

    def set_state(self, state: dict[str, Any]) -> None:
        self.t, self.misses, self.returns = state["t"], state["misses"], state["returns"]
        self.paddles = {agent: int(state["paddles"][agent]) for agent in self.agents}
        self.ball, self.velocity = list(state["ball"]), list(state["velocity"])
        version, internal, gauss = state["rng"]
        self.rng.setstate((version, tuple(internal), gauss))

    # drawing --------------------------------------------------------------------------------

    def render_objects(self) -> list[dict[str, Any]]:
        """Court (permanent), paddles and ball, in canvas fractions."""
        w, h = self.width, self.height
        objects: list[dict[str, Any]] = [
            {"id": "court", "kind": "rect", "x": 0.0, "y": 0.0, "w": 1.0, "h": 1.0, "color": "#10263b",
             "depth": -2, "permanent": True},
            {"id": "net", "kind": "line", "points": [[0.5, 0.0], [0.5, 1.0]], "width": 2, "color": "#50657a",
             "depth": -1, "permanent": True},
        ]  # fmt: skip
        for side, x, colors in (("left", 0, ("#58a6ff", "#a5d6ff")), ("right", w - 1, ("#f778ba", "#ffc0e0"))):
            for rank, agent in enumerate(self.sides[side]):  # a side's second paddle is drawn a cell further in
                shown = x + rank if side == "left" else x - rank
                objects.append(
                    {"id": agent, "kind": "rect", "x": round(shown / w, 4), "y": round(self.paddles[agent] / h, 4),
                     "w": round(1 / w, 4), "h": round(self.paddle / h, 4), "color": colors[min(rank, 1)],
                     "depth": 1}
                )  # fmt: skip
        bx, by = self.ball
        objects.append(
            {"id": "ball", "kind": "circle", "x": round((bx + 0.5) / w, 4), "y": round((by + 0.5) / h, 4),
             "r": round(0.5 / w, 4), "color": "#f0f6fc", "depth": 2}
        )  # fmt: skip
        return objects

    # the game -------------------------------------------------------------------------------

    def _serve(self) -> None:
        self.ball = [self.width // 2, self.rng.randrange(2, self.height - 2)]
        self.velocity = [self.rng.choice((-1, 1)), self.rng.choice((-1, 1))]

    def _move_ball(self) -> dict[str, float]:
        rewards = dict.fromkeys(self.agents, 0.0)
        x, y = self.ball[0] + self.velocity[0], self.ball[1] + self.velocity[1]
        if y < 0 or y >= self.height:
            self.velocity[1] = -self.velocity[1]
            y = self.ball[1] + self.velocity[1]
        side = "left" if x <= 0 else "right" if x >= self.width - 1 else None
        if side is not None:
            if any(self.paddles[a] <= y < self.paddles[a] + self.paddle for a in self.sides[side]):
                self.velocity[0] = -self.velocity[0]
                x = self.ball[0] + self.velocity[0]
                self.returns += 1
                rewards = dict.fromkeys(self.agents, 1.0)
            else:
                self.misses += 1
                self._serve()
                return rewards
        self.ball = [x, y]
        return rewards

    def _observations(self) -> dict[str, list[float]]:
        """Each agent: [own paddle centre, ball x, ball y, ball vx, ball vy, partner paddle centre], in cells.

        The partner is the first paddle of the other side.
        """
        bx, by = self.ball
        vx, vy = self.velocity
        half = self.paddle / 2
        partner = {"left": self.sides["right"][0], "right": self.sides["left"][0]}
        return {
            agent: [self.paddles[agent] + half, float(bx), float(by), float(vx), float(vy),
                    self.paddles[partner["left" if agent.startswith("left") else "right"]] + half]
            for agent in self.agents
        }  # fmt: skip


def make_env(**kwargs: Any) -> PongEnv:
    """The entry point an Experiment names: `pong_env:make_env`."""
    return PongEnv(**kwargs)
