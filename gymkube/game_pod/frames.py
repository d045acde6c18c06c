"""What a participant sees each tick: objects (permanent ones sent once) or an encoded frame."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gymkube.game_pod import environments
from gymkube.portable.common import split_objects
from gymkube.spec.gym import GymScene

if TYPE_CHECKING:
    from gymkube.game_pod.game import Game

log = logging.getLogger(__name__)


class FrameEncoder:
    """Builds the `state` payload of one game, remembering which permanent objects were sent."""

    def __init__(self, scene: GymScene, env: Any, bundle_dir: Path | None) -> None:
        self.scene = scene
        self.env = env
        self.mode = scene.rendering.mode
        self.sent_permanent: set[str] = set()
        self.sent_hud: str | None = None
        self.render_objects: Callable[[], list[dict[str, Any]]] | None = None
        if self.mode == "objects":
            self.render_objects = environments.find_object_renderer(scene, env, bundle_dir)
        self.mime = "image/png" if scene.rendering.rgb_format == "png" else "image/jpeg"

    def resend_permanent(self) -> None:
        """Send the scenery and the HUD again (a new episode may change them; a reconnected browser lost them)."""
        self.sent_permanent.clear()
        self.sent_hud = None

    def hud(self, game: Game) -> str:
        """The heads-up line: from the hooks, the scene's function, the environment's hud_text() or the template."""
        scene = self.scene
        return game.hooks.hud(
            episode=game.round, episodes=scene.episodes, score=game.score, step=game.step, max_steps=scene.max_steps
        )

    def _changed_hud(self, game: Game) -> str | None:
        """The HUD text when it differs from the last one sent, else None (the browser keeps showing that)."""
        text = self.hud(game)
        if text == self.sent_hud:
            return None
        self.sent_hud = text
        return text

    def _objects(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        assert self.render_objects is not None
        return split_objects(self.render_objects(), self.sent_permanent)

    def _image(self) -> bytes:
        from PIL import Image

        frame = self.env.render()
        buffer = io.BytesIO()
        image = Image.fromarray(frame)
        if self.mime == "image/png":
            image.save(buffer, format="PNG", optimize=False)
        else:
            image.save(buffer, format="JPEG", quality=self.scene.rendering.rgb_quality)
        return buffer.getvalue()

    def state(self, game: Game, ack: int | None) -> dict[str, Any]:
        """The `state` event payload for this tick."""
        payload: dict[str, Any] = {
            "g": game.id,
            "e": game.episode,
            "f": game.step,
            "hud": self._changed_hud(game),
            "a": ack if ack is not None and ack >= 0 else None,
            "t": time.time_ns() // 1_000_000,
        }
        if self.mode == "objects":
            current, permanent = self._objects()
            payload["o"] = current
            payload["p"] = permanent or None
        else:
            payload["img"] = self._image()
            payload["fmt"] = self.mime
        return payload
