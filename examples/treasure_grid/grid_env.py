"""Treasure grid: a turn-based game in pure Python (runs on the game pod and in the browser alike).

The explorer moves one cell per turn on a `size` x `size` grid and collects the treasures placed at
random (seeded) cells. Actions: 0 wait, 1 up, 2 down, 3 left, 4 right, 5 up-left, 6 up-right,
7 down-left, 8 down-right. Each treasure is worth 1; the episode ends when all are found
(terminated) or after `max_moves` moves (truncated, through the scene's `maxSteps`).

`hud_text()` is what the scene shows above the grid (`hud: {environment: true}`). The observation is
[explorer row, explorer column, then row and column of each treasure still hidden, -1 once found].
"""

from __future__ import annotations

import random
from typing import Any

MOVES = {0: (0, 0), 1: (-1, 0), 2: (1, 0), 3: (0, -1), 4: (0, 1), 5: (-1, -1), 6: (-1, 1), 7: (1, -1), 8: (1, 1)}


class Discrete:
    """A seeded choice of n actions (the part of gymnasium.spaces.Discrete that gymkube uses)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._rng = random.Random(0)

    def seed(self, seed: int | None = None) -> None:
        self._rng.seed(seed)

    def sample(self) -> int:
        return self._rng.randrange(self.n)


class TreasureGrid:
    """One explorer, `treasures` treasures on a square grid."""

    def __init__(self, size: int = 7, treasures: int = 4) -> None:
        self.size, self.count = size, treasures
        self.action_space = Discrete(len(MOVES))
        self.position = (size // 2, size // 2)
        self.treasures: list[tuple[int, int] | None] = []
        self.moves = 0

    def reset(self, seed: int | None = None, options: Any = None) -> tuple[list[float], dict[str, Any]]:
        rng = random.Random(seed)
        self.position = (self.size // 2, self.size // 2)
        cells = [(r, c) for r in range(self.size) for c in range(self.size) if (r, c) != self.position]
        self.treasures = list(rng.sample(cells, self.count))
        self.moves = 0
        return self._observation(), {}

    def step(self, action: int) -> tuple[list[float], float, bool, bool, dict[str, Any]]:
        dr, dc = MOVES.get(int(action), (0, 0))
        row = min(max(self.position[0] + dr, 0), self.size - 1)
        col = min(max(self.position[1] + dc, 0), self.size - 1)
        self.position = (row, col)
        self.moves += 1
        reward = 0.0
        if self.position in self.treasures:
            self.treasures[self.treasures.index(self.position)] = None
            reward = 1.0
        found = self.found
        return self._observation(), reward, found == self.count, False, {"found": found, "moves": self.moves}

    def close(self) -> None:
        pass

    @property
    def found(self) -> int:
        """Treasures collected so far."""
        return sum(1 for t in self.treasures if t is None)

    def nearest(self) -> int | None:
        """Moves to the nearest hidden treasure (diagonal steps allowed), or None when all are found."""
        r, c = self.position
        left = [max(abs(t[0] - r), abs(t[1] - c)) for t in self.treasures if t is not None]
        return min(left) if left else None

    def hud_text(self) -> str:
        """The line above the grid."""
        return f"Treasures {self.found}/{self.count}   Moves {self.moves}"

    def render_objects(self) -> list[dict[str, Any]]:
        """The grid (sent once), the treasures still hidden and the explorer, in canvas fractions."""
        cell = 1 / self.size
        objects: list[dict[str, Any]] = [
            {"id": f"cell{r}-{c}", "kind": "rect", "x": c * cell, "y": r * cell, "w": cell * 0.96, "h": cell * 0.96,
             "color": "#e8eef5" if (r + c) % 2 else "#dde6f0", "depth": -1, "permanent": True}
            for r in range(self.size) for c in range(self.size)
        ]  # fmt: skip
        for index, treasure in enumerate(self.treasures):
            if treasure is not None:
                r, c = treasure
                objects.append({"id": f"treasure{index}", "kind": "circle", "x": (c + 0.5) * cell,
                                "y": (r + 0.5) * cell, "r": cell * 0.25, "color": "#e3b341"})  # fmt: skip
        r, c = self.position
        objects.append({"id": "explorer", "kind": "rect", "x": (c + 0.15) * cell, "y": (r + 0.15) * cell,
                        "w": cell * 0.7, "h": cell * 0.7, "color": "#1f6feb", "depth": 1})  # fmt: skip
        return objects

    def _observation(self) -> list[float]:
        hidden = [v for t in self.treasures for v in (t if t is not None else (-1, -1))]
        return [float(v) for v in (*self.position, *hidden)]


def make_env(**kwargs: Any) -> TreasureGrid:
    """The entry point the Experiment names: `grid_env:make_env`."""
    return TreasureGrid(**kwargs)
