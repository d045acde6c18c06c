"""What a participant sees each tick: objects (permanent ones sent once) or an encoded frame."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gymkube.game_pod import environments
from gymkube.portable.common import hud_text, split_objects
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
        self.render_objects: Callable[[], list[dict[str, Any]]] | None = None
        if self.mode == "objects":
            self.render_objects = environments.find_object_renderer(scene, env, bundle_dir)
        self.mime = "image/png" if scene.rendering.rgb_format == "png" else "image/jpeg"

    def resend_permanent(self) -> None:
        """Send the scenery again (a new episode may change it; a reconnected browser lost it)."""
        self.sent_permanent.clear()

    def hud(self, game: Game) -> str:
        """The heads-up line from the scene's template."""
        scene = self.scene
        return hud_text(
            scene.hud, episode=game.round, episodes=scene.episodes, score=game.score, step=game.step,
            max_steps=scene.max_steps,
        )  # fmt: skip

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
        """The `state` event payload for this tick; the ack `a` is its last entry (each member's own, see wire.py)."""
        payload: dict[str, Any] = {
            "g": game.id,
            "e": game.episode,
            "f": game.step,
            "hud": self.hud(game),
            "t": time.time_ns() // 1_000_000,
        }
        if self.mode == "objects":
            current, permanent = self._objects()
            payload["o"] = current
            payload["p"] = permanent or None
        else:
            payload["img"] = self._image()
            payload["fmt"] = self.mime
        payload["a"] = ack if ack is not None and ack >= 0 else None
        return payload
