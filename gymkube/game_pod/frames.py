"""What a participant sees each tick: objects (scenery sent once, the rest when it changes) or an encoded frame."""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgpack

from gymkube.game_pod import environments
from gymkube.portable.common import split_objects
from gymkube.spec.gym import GymScene

if TYPE_CHECKING:
    from gymkube.game_pod.game import Game

log = logging.getLogger(__name__)


class ChangeTracker:
    """Objects with an id are sent once, then only when they change (`u`) or go (`x`); the page keeps the rest.

    Objects without an id are sent whole every frame (`o`). The first frame, and the first after `restart`
    (a new episode, a page that connected again), carries every object with an id and `k: true`: the page
    drops what it kept. An object is compared by its msgpack bytes, so a renderer that changes its dicts in
    place between frames is still seen to change.
    """

    def __init__(self) -> None:
        self.kept: dict[str, bytes] = {}
        self.keyframe = True

    def restart(self) -> None:
        """The next frame sends everything again."""
        self.kept.clear()
        self.keyframe = True

    def frame(self, objects: list[dict[str, Any]]) -> dict[str, Any]:
        """This frame's `o` (objects without an id), `u` (new or changed), `x` (ids gone) and `k` (keyframe)."""
        anonymous: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        seen: set[str] = set()
        for obj in objects:
            key = obj.get("id")
            if not isinstance(key, str) or not key:
                anonymous.append(obj)
                continue
            seen.add(key)
            packed = msgpack.packb(obj)
            if self.kept.get(key) != packed:
                self.kept[key] = packed
                changed.append(obj)
        gone = [key for key in self.kept if key not in seen]
        for key in gone:
            del self.kept[key]
        keyframe, self.keyframe = self.keyframe, False
        return {"o": anonymous, "u": changed or None, "x": gone or None, "k": True if keyframe else None}


class FrameEncoder:
    """Builds the `state` payload of one game, remembering which permanent objects were sent."""

    def __init__(self, scene: GymScene, env: Any, bundle_dir: Path | None) -> None:
        self.scene = scene
        self.env = env
        self.mode = scene.rendering.mode
        self.sent_permanent: set[str] = set()
        self.sent_hud: str | None = None
        self.changes = ChangeTracker() if scene.rendering.delta_frames else None
        self.render_objects: Callable[[], list[dict[str, Any]]] | None = None
        if self.mode == "objects":
            self.render_objects = environments.find_object_renderer(scene, env, bundle_dir)
        self.mime = "image/png" if scene.rendering.rgb_format == "png" else "image/jpeg"

    def resend_permanent(self) -> None:
        """Send the scenery, the HUD and every kept object again (a new episode may change them; a reconnected
        browser lost them)."""
        self.sent_permanent.clear()
        self.sent_hud = None
        if self.changes is not None:
            self.changes.restart()

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

    def _objects(self) -> dict[str, Any]:
        assert self.render_objects is not None
        current, permanent = split_objects(self.render_objects(), self.sent_permanent)
        fields: dict[str, Any] = {"o": current, "p": permanent or None}
        if self.changes is not None:
            fields |= self.changes.frame(current)
        return fields

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
            payload |= self._objects()
        else:
            payload["img"] = self._image()
            payload["fmt"] = self.mime
        return payload
