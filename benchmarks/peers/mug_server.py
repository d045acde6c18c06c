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
from pathlib import Path
from typing import Any

import gymnasium as gym

sys.path.insert(0, str(Path(__file__).resolve().parent))

import cartpole_shapes  # noqa: E402
import harness  # noqa: E402
from mug.rendering import Surface  # noqa: E402
from mug.server import app, remote_game  # noqa: E402

# --- 1: no phoning out; 2: input sequence numbers, for measurement only -------------------------
harness.block_phoning_out()
seq_tap = harness.SeqTap()
app.socketio.on("player_action")(seq_tap.wrap(app.on_player_action))
_original_enqueue = remote_game.ServerGame.enqueue_action
_original_step = remote_game.ServerGame.step


def enqueue_action(self: Any, agent_id: Any, action: Any) -> None:
    _original_enqueue(self, agent_id, action)
    self.__dict__.setdefault("bench_pending_seq", {})[agent_id] = seq_tap.seq


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
    return harness.hud(sum(game.episode_rewards.values()), game)


def build_config(port: int) -> Any:
    return harness.cartpole_config(
        "mug", port, make_env, human="human", rendering={"hud_text_fn": hud}, multiplayer="server_authoritative"
    )


if __name__ == "__main__":
    logging.disable(logging.INFO)
    app.run(build_config(int(sys.argv[1])))
