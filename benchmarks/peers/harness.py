"""What both peer servers share: the same experiment, no phoning out, and the input-seq tap.

Imported inside the peers' virtualenvs (interactive-gym 0.1.1 and MUG 0.1.3, a fork of it with the
same configuration modules), so only the standard library and the peer's own package are used.
Keeping the experiment in one place keeps the comparison fair: both peers play exactly the same
scenes, episodes, step limit and key mapping.
"""

from __future__ import annotations

import importlib
import urllib.request
from collections.abc import Callable
from typing import Any


def block_phoning_out() -> None:
    """Their `run()` asks api.ipify.org for the public IP (3 s timeout): make that fail at once."""

    def no_network(*args: Any, **kwargs: Any) -> Any:
        raise OSError("the benchmark does not phone out")

    urllib.request.urlopen = no_network  # type: ignore[assignment]


class SeqTap:
    """Remembers the `seq` of the input whose handler is running (an extra field the peers ignore)."""

    def __init__(self) -> None:
        self.seq: Any = None

    def wrap(self, handler: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
        """`handler`, with the input's seq remembered while it runs."""

        def with_seq(data: dict[str, Any]) -> None:
            self.seq = data.get("seq")
            handler(data)

        return with_seq


def hud(score: float, game: Any) -> str:
    """The HUD text both peers send with every frame, carrying the applied input's seq as `a=<seq>`."""
    return f"Score {score:.0f} a={game.__dict__.get('bench_applied_seq')}"


def cartpole_config(
    package: str,
    port: int,
    env_creator: Callable[..., Any],
    human: Any,
    rendering: dict[str, Any],
    multiplayer: str | None = None,
) -> Any:
    """StartScene -> CartPole (30 fps, 1000 episodes of up to 500 steps, arrow keys) -> EndScene."""
    constants = importlib.import_module(f"{package}.configurations.configuration_constants")
    experiment_config = importlib.import_module(f"{package}.configurations.experiment_config")
    gym_scene = importlib.import_module(f"{package}.scenes.gym_scene")
    stager = importlib.import_module(f"{package}.scenes.stager")
    static_scene = importlib.import_module(f"{package}.scenes.static_scene")
    cartpole = (
        gym_scene.GymScene()
        .scene(scene_id="cartpole", experiment_config={})
        .environment(env_creator=env_creator, env_config={})
        .rendering(fps=30, game_width=600, game_height=400, **rendering)
        .policies(policy_mapping={human: constants.PolicyTypes.Human})
        .gameplay(
            default_action=0,
            action_mapping={"ArrowLeft": 0, "ArrowRight": 1},
            num_episodes=1000,
            max_steps=500,
            input_mode=constants.InputModes.PressedKeys,
        )
    )
    if multiplayer is not None:
        cartpole = cartpole.multiplayer(mode=multiplayer)
    start = static_scene.StartScene().scene(scene_id="start", experiment_config={})
    end = static_scene.EndScene().scene(scene_id="end", experiment_config={})
    return (
        experiment_config.ExperimentConfig()
        .experiment(
            stager=stager.Stager(scenes=[start, cartpole, end]), experiment_id="bench", save_experiment_data=False
        )
        .hosting(port=port, host="127.0.0.1")
    )
