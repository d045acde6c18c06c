"""Hooks of the treasure grid: a column per move, and a bonus per episode recorded in the episode row.

gymkube calls these on the game pod (server mode) or in the participant's browser (client mode) with
keyword arguments; each method is optional, and `**_` takes what a method does not need.
"""

from __future__ import annotations

from typing import Any

BONUS_PER_TREASURE = 0.05
"""Pounds per treasure found, paid on top of the study's fee (the `bonus` column of the episodes table)."""


class TreasureHooks:
    """Distance to the nearest treasure at every move; the episode's bonus at its end."""

    def __init__(self) -> None:
        self.wasted = 0

    def on_episode_start(self, env: Any, episode: int, **_: Any) -> None:
        self.wasted = 0

    def on_step(self, env: Any, reward: float, **_: Any) -> dict[str, Any]:
        grid = env.unwrapped if hasattr(env, "unwrapped") else env
        self.wasted += reward == 0
        return {"nearest": grid.nearest(), "moves_without_treasure": self.wasted}

    def on_episode_end(self, env: Any, score: float, steps: int, **_: Any) -> dict[str, Any]:
        return {"bonus": round(score * BONUS_PER_TREASURE, 2), "moves_per_treasure": steps / score if score else None}
