"""MUG (multi-user-gymnasium 0.1.3) serving CartPole-v1 server-side for the capacity benchmark (its own venv).

Run: `benchmarks/.peers/mug/bin/python benchmarks/peers/mug_server.py PORT`. One human per game,
30 fps, MUG's `server_authoritative` mode (the environment steps on the server; the browser
sends `player_action` on key down), StartScene -> GymScene -> EndScene.

MUG runs without patches. Its server-authoritative mode builds the environment with
`render_mode="mug"` and steps it with a dict of actions per agent, so the harness gives it
CartPole-v1 in a thin wrapper (what a MUG user writes): dict action in, `mug.rendering.Surface`
objects out of `render()`, scenery as persistent objects (sent once by MUG's delta encoding).

Harness-only changes, applied here at import:
1. Quiet start: `run()` asks api.ipify.org for the public IP (3 s timeout); urlopen is made to
   fail at once so the benchmark never phones out.
2. Measurement only: each `player_action` carries a sequence number `seq` (an extra field the
   server ignores). The harness remembers the seq of the game's pending action and, when `step`
   consumes it, exposes it through `hud_text_fn` (sent with every frame anyway) as `a=<seq>`.
"""

from __future__ import annotations

import logging
import sys
import urllib.request
from pathlib import Path
from typing import Any

import gymnasium as gym

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cartpole_shapes  # noqa: E402
from mug.configurations import configuration_constants, experiment_config  # noqa: E402
from mug.rendering import Surface  # noqa: E402
from mug.scenes import gym_scene, stager, static_scene  # noqa: E402
from mug.server import app, remote_game  # noqa: E402


# --- 1: no phoning out --------------------------------------------------------------------------
def _no_network(*args: Any, **kwargs: Any) -> Any:
    raise OSError("the benchmark does not phone out")


urllib.request.urlopen = _no_network  # type: ignore[assignment]

# --- 2: input sequence numbers, for measurement only ---------------------------------------------
_incoming_seq: list[Any] = [None]
_original_player_action = app.on_player_action


def player_action_with_seq(data: dict[str, Any]) -> None:
    """The app's handler, with the input's seq remembered while it runs."""
    _incoming_seq[0] = data.get("seq")
    _original_player_action(data)


app.socketio.on("player_action")(player_action_with_seq)
_original_enqueue = remote_game.ServerGame.enqueue_action
_original_step = remote_game.ServerGame.step


def enqueue_action(self: Any, agent_id: Any, action: Any) -> None:
    _original_enqueue(self, agent_id, action)
    self.__dict__.setdefault("bench_pending_seq", {})[agent_id] = _incoming_seq[0]


def step(self: Any) -> Any:
    for agent in self.pending_actions:
        self.__dict__["bench_applied_seq"] = self.__dict__.get("bench_pending_seq", {}).get(agent)
    return _original_step(self)


remote_game.ServerGame.enqueue_action = enqueue_action
remote_game.ServerGame.step = step


# --- the experiment -----------------------------------------------------------------------------
class MugCartPole(gym.Wrapper):
    """CartPole-v1 as MUG's server-authoritative mode expects an environment."""

    def __init__(self, render_mode: str | None = None) -> None:
        super().__init__(gym.make("CartPole-v1"))
        self.surface = Surface(cartpole_shapes.WIDTH, cartpole_shapes.HEIGHT)

    def step(self, action: Any) -> Any:
        return self.env.step(next(iter(action.values())) if isinstance(action, dict) else action)

    def render(self) -> dict[str, Any]:
        scenery, shapes = cartpole_shapes.scenery(), cartpole_shapes.moving(self.env)
        gx, gy, gw, gh = scenery["ground"]
        self.surface.rect(x=gx, y=gy, w=gw, h=gh, color="#eef1f4", id="ground", persistent=True, depth=-2)
        self.surface.line(points=scenery["track"], color="#1f2328", width=2, id="track", persistent=True, depth=-1)
        cx, cy, cw, ch = shapes["cart"]
        self.surface.rect(x=cx, y=cy, w=cw, h=ch, color="#1f2328", depth=1)
        self.surface.line(points=shapes["pole"], color="#ca9865", width=10, depth=2)
        self.surface.circle(x=shapes["axle"][0], y=shapes["axle"][1], radius=5, color="#8184cb", depth=3)
        return self.surface.commit().to_dict()


def make_env(**config: Any) -> gym.Env:
    return MugCartPole(**config)


def hud(game: Any) -> str:
    return f"Score {sum(game.episode_rewards.values()):.0f} a={game.__dict__.get('bench_applied_seq')}"


def build_config(port: int) -> experiment_config.ExperimentConfig:
    cartpole = (
        gym_scene.GymScene()
        .scene(scene_id="cartpole", experiment_config={})
        .environment(env_creator=make_env, env_config={})
        .rendering(fps=30, hud_text_fn=hud, game_width=600, game_height=400)
        .policies(policy_mapping={"human": configuration_constants.PolicyTypes.Human})
        .gameplay(
            default_action=0,
            action_mapping={"ArrowLeft": 0, "ArrowRight": 1},
            num_episodes=1000,
            max_steps=500,
            input_mode=configuration_constants.InputModes.PressedKeys,
        )
        .multiplayer(mode="server_authoritative")
    )
    start = static_scene.StartScene().scene(scene_id="start", experiment_config={})
    end = static_scene.EndScene().scene(scene_id="end", experiment_config={})
    return (
        experiment_config.ExperimentConfig()
        .experiment(
            stager=stager.Stager(scenes=[start, cartpole, end]), experiment_id="bench", save_experiment_data=False
        )
        .hosting(port=port, host="127.0.0.1")
    )


if __name__ == "__main__":
    logging.disable(logging.INFO)
    app.run(build_config(int(sys.argv[1])))
