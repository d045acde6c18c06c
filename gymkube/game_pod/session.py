"""A participant's live session on this pod: walking the scenes, running their games."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from gymkube.game_pod.game import Game, Status
from gymkube.game_pod.progress import Progress
from gymkube.game_pod.protocol import Event
from gymkube.game_pod.scenes import client_scene
from gymkube.game_pod.stager import scene_id_of
from gymkube.game_pod.survey import check_answers
from gymkube.spec.gym import GymScene
from gymkube.spec.scenes import EndScene, Scene, StaticScene, SurveyScene

if TYPE_CHECKING:
    from gymkube.game_pod.pod import Pod

log = logging.getLogger(__name__)


class ParticipantSession:
    """One participant: their progress, their socket (if connected) and their game."""

    def __init__(self, pod: Pod, progress: Progress) -> None:
        self.pod = pod
        self.progress = progress
        self.sid: str | None = None
        self.game: Game | None = None
        self._grace: asyncio.TimerHandle | None = None
        self._lock = asyncio.Lock()

    @property
    def scene(self) -> Scene:
        """The spec of the current scene."""
        return self.pod.spec.scene(scene_id_of(self.progress.current))

    def row_ids(self) -> dict[str, Any]:
        """The columns that say whose row it is."""
        p = self.progress
        return {"experiment": p.experiment, "participant": p.participant, "session": p.session}

    def record_snapshot(self) -> None:
        """Queue a sessions-table row with the progress as it is now (the newest one wins)."""
        self.pod.record("sessions", self.progress.session_row(self.pod.name))

    async def emit(self, event: str, payload: dict[str, Any]) -> None:
        """Send to this participant's socket, if connected."""
        if self.sid is not None:
            await self.pod.sio.emit(event, payload, to=self.sid)

    # connection ------------------------------------------------------------------------

    async def attach(self, sid: str, client: dict[str, Any]) -> None:
        """A socket for this participant connected: cancel any grace timer, show the scene."""
        if self._grace is not None:
            self._grace.cancel()
            self._grace = None
        self.sid = sid
        self.progress.connects += 1
        if client:
            self.progress.client = client
        resumed = self.progress.connects > 1
        self.pod.event(self, "reconnect" if resumed else "connect", {"sid": sid})
        self.record_snapshot()
        await self.show_scene(resumed=resumed)

    def detach(self) -> None:
        """The socket went away: pause the game and hold it for the grace period."""
        self.sid = None
        self.pod.event(self, "disconnect", {"scene": self.progress.current})
        self.record_snapshot()
        if self.game is not None and self.game.status not in (Status.DONE, Status.ABANDONED):
            self.game.pause()
            grace = self.game.scene.reconnect_grace_s
            self._grace = asyncio.get_running_loop().call_later(grace, self._grace_expired)

    def _grace_expired(self) -> None:
        self._grace = None
        if self.sid is None and self.game is not None:
            self.pod.event(self, "abandoned", {"game": self.game.id, "episode": self.game.episode})
            self.pod.dropped += 1
            self._end_game("abandoned")

    # scenes ----------------------------------------------------------------------------

    async def show_scene(self, resumed: bool) -> None:
        """Send the current scene; start or resume its game; complete the session at the end."""
        scene = self.scene
        if isinstance(scene, EndScene) and self.progress.status != "completed":
            await self._complete(scene)
        payload = {
            "index": self.progress.index,
            "total": len(self.progress.flow),
            "scene": client_scene(scene, self.progress, self.pod.bundle_dir),
            "resumed": resumed,
        }
        await self.emit(Event.SCENE, payload)
        if isinstance(scene, GymScene):
            await self._ensure_game(scene)

    async def _complete(self, scene: EndScene) -> None:
        p = self.progress
        p.completion_code = p.completion_code or (
            uuid.uuid4().hex[:10].upper() if scene.completion_code == "auto" else scene.completion_code
        )
        p.status = "completed"
        p.t_end_ns = time.time_ns()
        await self.pod.save(p)
        self.record_snapshot()
        self.pod.event(self, "completed", {"code": p.completion_code})

    async def finish_scene(self, data: Any) -> dict[str, Any]:
        """The browser says the current scene is done; check it, record it, move on."""
        async with self._lock:
            scene = self.scene
            if not isinstance(data, dict) or data.get("scene") != self.progress.current:
                return {"ok": False, "errors": {"_": "This page is out of date; reloading it."}}
            if isinstance(scene, StaticScene):
                waited = (time.time_ns() - self.progress.scene_entered_ns) / 1e9
                if waited + 0.25 < scene.min_time_s:
                    return {"ok": False, "errors": {"_": "Please take a little longer to read."}}
                await self.advance(None)
            elif isinstance(scene, SurveyScene):
                answers, errors = check_answers(scene, data.get("answers"))
                if errors:
                    return {"ok": False, "errors": errors}
                await self.advance(answers)
            else:
                return {"ok": False, "errors": {"_": "This scene ends by itself."}}
            return {"ok": True, "errors": {}}

    async def advance(self, answers: dict[str, Any] | None) -> None:
        """Record the scene being left, save progress, show the next scene."""
        p = self.progress
        now = time.time_ns()
        self.pod.record(
            "scenes",
            {
                **self.row_ids(),
                "scene": p.current,
                "scene_id": scene_id_of(p.current),
                "scene_type": self.scene.type,
                "index": p.index,
                "t_enter_ns": p.scene_entered_ns,
                "t_leave_ns": now,
                "answers": None if answers is None else json.dumps(answers),
            },
        )
        if answers is not None:
            p.answers[p.current] = answers
        p.index = min(p.index + 1, len(p.flow) - 1)
        p.scene_entered_ns = now
        await self.pod.save(p)
        self.record_snapshot()
        await self.show_scene(resumed=False)

    # games -----------------------------------------------------------------------------

    async def _ensure_game(self, scene: GymScene) -> None:
        p = self.progress
        if self.game is not None and self.game.status not in (Status.DONE, Status.ABANDONED):
            self.game.resume()
            await self.pod.ticker(scene.fps).flush_outbox(self.game)
            return
        if p.game is not None and p.game.get("scene") == p.current:
            # The game this participant was in died with its pod: say so in the data.
            self.pod.record(
                "episodes",
                {**self.row_ids(), "scene": p.current, "game": p.game["id"],
                 "episode": p.game["episode"], "status": "interrupted", "t_end_ns": time.time_ns()},
            )  # fmt: skip
            p.last_episode[p.current] = p.game["episode"]
            p.game = None
        played = p.episodes_played.get(p.current, 0)
        if played >= scene.episodes:
            await self.advance(None)
            return
        first = p.last_episode.get(p.current, 0) + 1
        game = self.pod.new_game(self, scene, first_episode=first, rounds_done=played)
        if game is None:
            await self.emit(Event.NOTICE, {"text": "This game could not start; moving on."})
            await self.advance(None)
            return
        self.game = game

    def on_game_event(self, what: str, game: Game) -> None:
        """Episode starts and ends are saved to progress; a finished game moves the flow on."""
        p = self.progress
        if what == "episode_start":
            p.game = {"id": game.id, "scene": p.current, "episode": game.episode}
            p.last_episode[p.current] = game.episode
        elif what == "episode_end":
            p.episodes_played[p.current] = game.rounds_done
            p.last_episode[p.current] = game.episode
            p.game = None
            self.pod.writer.request_flush()
        self.pod.spawn(self.pod.save(p))
        if what == "done":
            self.pod.spawn(self._after_game(game))

    async def _after_game(self, game: Game) -> None:
        self.pod.ticker(game.scene.fps).remove(game)
        if self.game is game:
            self.game = None
        async with self._lock:
            await self.advance(None)

    def _end_game(self, status: str) -> None:
        game, self.game = self.game, None
        if game is not None:
            game.stop(status)
            self.pod.ticker(game.scene.fps).remove(game)
            self.progress.game = None
            self.pod.spawn(self.pod.save(self.progress))

    def shutdown(self, status: str) -> None:
        """The pod is stopping: record the running game as `status`."""
        if self._grace is not None:
            self._grace.cancel()
        self._end_game(status)
