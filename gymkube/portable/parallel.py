"""PettingZoo `ParallelEnv`s as the one environment a game steps: actions, observations and rewards by player.

A game names its players (`players:` in the spec) and steps one environment with a dict of their
actions, as for a Gymnasium environment with a `Dict` action space. `Seated` puts a ParallelEnv
behind that interface: each player plays one agent (by the spec's `environment.agents`, or the
agent whose id as text is the player's name), observations, rewards and infos come back keyed by
player, and the episode is over when the environment has no agents left (PettingZoo's
convention: `while env.agents:`). The same code runs on the pod, in `gymkube replay` and in the
browser (Pyodide), so it imports neither gymnasium nor numpy.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any


def _cogrid_make(env_id: str) -> Callable[..., Any] | None:
    """cogrid's registry (its environments register when `cogrid.envs` is imported), or None without cogrid."""
    try:
        importlib.import_module("cogrid.envs")
        registry = importlib.import_module("cogrid.envs.registry")
    except ImportError:
        return None
    if env_id not in registry.ENVIRONMENT_REGISTRY:
        return None
    return functools.partial(registry.make, env_id)


def parallel_env_factory(env_id: str) -> Callable[..., Any]:
    """What makes the ParallelEnv a registered id names: a PettingZoo module's `parallel_env`, or cogrid's registry.

    `pettingzoo.butterfly.cooperative_pong_v5` is a module with `parallel_env(**kwargs)` (PettingZoo's
    convention); `Overcooked-CrampedRoom-V0` is an id of cogrid's registry (PettingZoo has none of its own).
    """
    if "." in env_id:
        try:
            module = importlib.import_module(env_id)
        except ImportError:
            module = None
        if module is not None and callable(getattr(module, "parallel_env", None)):
            return module.parallel_env
    make = _cogrid_make(env_id)
    if make is None:
        raise LookupError(
            f"no PettingZoo environment {env_id!r}: give a module with parallel_env() (e.g. "
            "pettingzoo.butterfly.cooperative_pong_v5), an id of cogrid's registry (e.g. Overcooked-CrampedRoom-V0), "
            "or 'entryPoint: module:callable'"
        )
    return make


class Seated:
    """A ParallelEnv stepped by player: each of `players` plays one of the environment's agents."""

    def __init__(self, env: Any, players: list[str], agents: dict[str, Any] | None = None) -> None:
        self.env = env
        possible = list(env.possible_agents)
        by_text = {str(agent): agent for agent in possible}
        wanted = agents or {}
        self.agent_of: dict[str, Any] = {}
        for player in players:
            name = wanted.get(player, player)
            agent = name if name in possible else by_text.get(str(name))
            if agent is None:
                raise ValueError(
                    f"player {player!r} plays agent {name!r}, which the environment does not have; its agents are "
                    f"{possible} (name the players after them, or map them with 'environment.agents')"
                )
            self.agent_of[player] = agent
        unseated = [a for a in possible if a not in self.agent_of.values()]
        if unseated or len(set(map(str, self.agent_of.values()))) != len(players):
            raise ValueError(
                f"every agent of the environment needs one player (one seat per agent): agents {possible}, "
                f"players {players} play {[self.agent_of[p] for p in players]}"
            )
        self.player_of = {agent: player for player, agent in self.agent_of.items()}
        self.action_space = {player: env.action_space(agent) for player, agent in self.agent_of.items()}

    @property
    def unwrapped(self) -> Any:
        """The PettingZoo environment itself (a renderer reads its state; versions name its package)."""
        return getattr(self.env, "unwrapped", self.env)

    def by_player(self, values: Any) -> dict[str, Any]:
        """A dict keyed by the environment's agents, keyed by player instead (agents without one are left out)."""
        if not isinstance(values, dict):
            return {}
        return {self.player_of[a]: v for a, v in values.items() if a in self.player_of}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """`env.reset`, observations and infos by player."""
        observations, infos = self.env.reset(seed=seed, options=options)
        return self.by_player(observations), self.by_player(infos)

    def step(self, action: Any) -> tuple[dict[str, Any], dict[str, float], bool, bool, dict[str, Any]]:
        """One step with every player's action (a plain action when one player plays alone).

        Only agents still in the episode (`env.agents`) are given their action. The episode is over when
        none is left, or every one that acted is terminated or truncated; it counts as terminated when any
        agent was.
        """
        actions = action if isinstance(action, dict) else {next(iter(self.agent_of)): action}
        live = list(self.env.agents)
        moves = {self.agent_of[p]: a for p, a in actions.items() if p in self.agent_of and self.agent_of[p] in live}
        observations, rewards, terminations, truncations, infos = self.env.step(moves)
        ended = {a for a in moves if terminations.get(a) or truncations.get(a)}
        over = not self.env.agents or ended == set(moves)
        terminated = over and any(bool(terminations.get(a)) for a in moves)
        rewards_by_player = {p: float(r) for p, r in self.by_player(rewards).items()}
        return (
            self.by_player(observations),
            rewards_by_player,
            terminated,
            over and not terminated,
            self.by_player(infos),
        )

    def render(self) -> Any:
        """The environment's own frame (`render_mode: rgb_array`)."""
        return self.env.render()

    def close(self) -> None:
        """Close the environment."""
        self.env.close()

    def get_state(self) -> Any:
        """The environment's `get_state()` (p2p rollback)."""
        return self.env.get_state()

    def set_state(self, state: Any) -> None:
        """The environment's `set_state()` (p2p rollback)."""
        self.env.set_state(state)


def make_parallel_env(
    env_id: str | None, entry_point: str | None, kwargs: dict[str, Any], search_dir: Any = None
) -> Any:
    """The ParallelEnv an environment spec names (`id` or `entryPoint`), made with its kwargs."""
    from gymkube.portable.common import import_entry_point

    factory = import_entry_point(entry_point, search_dir) if entry_point else parallel_env_factory(env_id or "")
    return factory(**kwargs)
