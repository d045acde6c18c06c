"""interactive-gym 0.1.1 serving CartPole-v1 server-side for the capacity benchmark (its own venv).

Run: `benchmarks/.peers/interactive-gym/bin/python benchmarks/peers/interactive_gym_server.py PORT`.
One human per game, 30 fps, objects rendering (`env_to_state_fn`), keys in interactive-gym's
default `pressed_keys` input mode, StartScene -> GymScene -> EndScene.

Patches, applied here at import and nowhere else (site-packages is never edited):
1. Running at all: the wheel ships no `static/templates/index.html`, so `GET /<subject_id>` (which
   builds the participant's stager) would answer 500; `render_template` in the app module is
   replaced by a one-line page. `render_server_game` calls `encoded_image.tobytes()` even when
   `env_to_state_fn` is set (the image is then None) and crashes on the first frame; it is
   replaced by the same method with `None` for the image in that case.
2. Quiet start: `run()` asks api.ipify.org for the public IP (3 s timeout); urlopen is made to
   fail at once so the benchmark never phones out.
3. Measurement only: each input carries a sequence number `seq` (an extra field the server
   ignores). The harness remembers the seq of the action that entered the game's one-slot
   action queue and, when `tick` consumes it, exposes it through `hud_text_fn` (sent with every
   frame anyway) as `a=<seq>`. This adds a dict write per input and a format per frame.
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
from interactive_gym.configurations.object_contexts import Circle, Line, Polygon  # noqa: E402
from interactive_gym.server import app, game_manager, remote_game  # noqa: E402

# --- patch 1: run at all ------------------------------------------------------------------------
app.flask.render_template = lambda *args, **kwargs: "<!doctype html><title>interactive-gym</title>"


def render_server_game(self: Any, game: Any) -> None:
    """interactive-gym's own render_server_game, minus the crash on a missing image."""
    state = self.scene.env_to_state_fn(game.env, self.scene)
    hud_text = self.scene.hud_text_fn(game) if self.scene.hud_text_fn is not None else None
    self.sio.emit(
        "environment_state",
        {"game_state_objects": state, "game_image_binary": None, "step": game.tick_num, "hud_text": hud_text},
        room=game.game_id,
    )


game_manager.GameManager.render_server_game = render_server_game


# --- patch 2: no phoning out; 3: input sequence numbers, for measurement only ------------------
harness.block_phoning_out()
seq_tap = harness.SeqTap()
app.socketio.on("send_pressed_keys")(seq_tap.wrap(app.send_pressed_keys))
_original_enqueue = remote_game.RemoteGameV2.enqueue_action
_original_tick = remote_game.RemoteGameV2.tick


def enqueue_action(self: Any, subject_id: Any, action: Any) -> None:
    accepted = self.status == remote_game.GameStatus.Active and not self.pending_actions[subject_id].full()
    _original_enqueue(self, subject_id, action)
    if accepted:
        self.__dict__.setdefault("bench_pending_seq", {})[subject_id] = seq_tap.seq


def tick(self: Any) -> None:
    for agent, queue in list(self.pending_actions.items()):
        if queue.qsize() > 0:
            self.__dict__["bench_applied_seq"] = self.__dict__.get("bench_pending_seq", {}).get(agent)
    _original_tick(self)


remote_game.RemoteGameV2.enqueue_action = enqueue_action
remote_game.RemoteGameV2.tick = tick


# --- the experiment -----------------------------------------------------------------------------
def make_env(**config: Any) -> gym.Env:
    return gym.make("CartPole-v1", **config)


def cartpole_state(env: Any, scene: Any) -> list[dict[str, Any]]:
    """Objects in interactive-gym's own format; the scenery only on an episode's first frame."""
    w, h = cartpole_shapes.WIDTH, cartpole_shapes.HEIGHT
    shapes = cartpole_shapes.moving(env)
    cx, cy, cw, ch = shapes["cart"]
    objects = [
        Polygon(
            "cart",
            "#1f2328",
            [(cx / w, cy / h), ((cx + cw) / w, cy / h), ((cx + cw) / w, (cy + ch) / h), (cx / w, (cy + ch) / h)],
            depth=1,
        ).as_dict(),  # fmt: skip
        Line("pole", "#ca9865", 10, [(x / w, y / h) for x, y in shapes["pole"]], depth=2).as_dict(),
        Circle("axle", "#8184cb", shapes["axle"][0] / w, shapes["axle"][1] / h, 5, depth=3).as_dict(),
    ]
    if env.unwrapped.steps_beyond_terminated is None and getattr(env, "_elapsed_steps", 0) == 0:
        gx, gy, gw, gh = cartpole_shapes.scenery()["ground"]
        ground = [(gx / w, gy / h), ((gx + gw) / w, gy / h), ((gx + gw) / w, 1.0), (gx / w, 1.0)]
        objects.append(Polygon("ground", "#eef1f4", ground, depth=-2, permanent=True).as_dict())
        track = [(x / w, y / h) for x, y in cartpole_shapes.scenery()["track"]]
        objects.append(Line("track", "#1f2328", 2, track, depth=-1, permanent=True).as_dict())
    return objects


def hud(game: Any) -> str:
    return harness.hud(game.episode_rewards[0], game)


def build_config(port: int) -> Any:
    return harness.cartpole_config(
        "interactive_gym", port, make_env, human=0, rendering={"env_to_state_fn": cartpole_state, "hud_text_fn": hud}
    )


if __name__ == "__main__":
    logging.disable(logging.INFO)
    app.run(build_config(int(sys.argv[1])))
