"""A participant's live session on this pod: walking the scenes, running their games."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import TYPE_CHECKING, Any

from gymkube.game_pod.browser import preload
from gymkube.game_pod.game import Game, Status
from gymkube.game_pod.limits import ParticipantBudget
from gymkube.game_pod.monitoring import ConnectionWatch
from gymkube.game_pod.page_answers import check_page_answers
from gymkube.game_pod.progress import Progress
from gymkube.game_pod.protocol import Event
from gymkube.game_pod.remote import RemoteGame
from gymkube.game_pod.scenes import client_scene, ending_scene
from gymkube.game_pod.stager import scene_id_of
from gymkube.game_pod.survey import check_answers
from gymkube.game_pod.unity import UnityRun
from gymkube.spec.gym import GymScene
from gymkube.spec.scenes import EndScene, Scene, StaticScene, SurveyScene, UnityScene

if TYPE_CHECKING:
    from gymkube.game_pod.pod import Pod

log = logging.getLogger(__name__)

AnyGame = Game | RemoteGame
"""A game stepped on this pod, or one played in the browser(s)."""

CODE_PREFIX = {
    "wait_timeout": "WAIT", "partner_left": "LEFT", "dropped": "DROP", "excluded": "EXCL", "technical": "TECH",
}  # fmt: skip
"""Generated codes of the early endings start with these, so a glance tells them apart."""

RECENT_GAMES = 4
"""Games whose frame draw times are still accepted (reports for a game arrive after it ends)."""


def format_seconds(seconds: float) -> str:
    """'20 seconds', '1 minute 30 seconds'."""
    minutes, secs = divmod(round(seconds), 60)
    parts = [f"{minutes} minute{'s' if minutes != 1 else ''}"] if minutes else []
    if secs or not parts:
        parts.append(f"{secs} second{'s' if secs != 1 else ''}")
    return " ".join(parts)


class ParticipantSession:
    """One participant: their progress, their socket (if connected) and their game."""

    def __init__(self, pod: Pod, progress: Progress) -> None:
        self.pod = pod
        self.progress = progress
        self.sid: str | None = None
        self.game: AnyGame | None = None
        self.agent: str | None = None  # the agent played in `game`
        self.unity: UnityRun | None = None  # the Unity scene being played, if any
        self._grace: asyncio.TimerHandle | None = None
        self._left_ns = 0
        self._lock = asyncio.Lock()
        self.recent_games: dict[str, tuple[str, AnyGame]] = {}  # game id -> (agent, game), for draw times reported late
        self.budget = ParticipantBudget()
        self.left_at = time.monotonic()
        """When the page left (or the session opened): a session gone long enough leaves memory (presence.py)."""
        self.finished_at: float | None = None
        """When the pod first saw this participant connected and finished (presence.py hangs up later)."""
        self.connection = ConnectionWatch()
        """How long the round trip to the pod has been over `attention.maxRttMs` (monitoring.py)."""
        self.page_visible = True
        self.window_focused = True
        """What the page said last about itself (the exclusion hook reads them)."""
        self.frames_dropped_here = 0
        """`state` frames this connection did not get because it was behind (the first one is an event row)."""

    @property
    def grace_pending(self) -> bool:
        """A game seat is held for this participant while they are away."""
        return self._grace is not None

    @property
    def busy(self) -> bool:
        """Something of theirs is under way (finishing a scene, moving on)."""
        return self._lock.locked()

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
        self.finished_at = None
        self.frames_dropped_here = 0
        self.progress.connects += 1
        if client:
            self.progress.client = client
        resumed = self.progress.connects > 1
        detail: dict[str, Any] = {"sid": sid}
        game = self.game
        if game is not None and self.agent is not None and game.is_active and not game.slots[self.agent].present:
            away = (time.time_ns() - self._left_ns) / 1e9 if self._left_ns else None
            detail |= {"game": game.id, "group": game.group, "agent": self.agent, "away_s": away}
            game.set_present(self.agent, True)
            self.tell_partners(f"{self.label} is back.")
        self.pod.event(self, "reconnect" if resumed else "connect", detail)
        self.record_snapshot()
        await self.show_scene(resumed=resumed)

    def detach(self) -> None:
        """The socket went away: leave a waiting room; hold a game's seat for the grace period.

        A solo game pauses; a group game plays on, the seat taking the default action.
        """
        self.sid = None
        self._left_ns = time.time_ns()
        self.left_at = time.monotonic()
        self.pod.event(self, "disconnect", {"scene": self.progress.current})
        self.record_snapshot()
        self.leave_lobby("disconnected")
        game = self.game
        if game is None or not game.is_active:
            return
        grace = game.scene.reconnect_grace_s
        if self.alone_in(game):
            game.pause(self.agent)
        else:
            assert self.agent is not None
            game.set_present(self.agent, False)
            self.progress.drops += 1
            self.pod.event(self, "drop", {"game": game.id, "group": game.group, "agent": self.agent, "grace_s": grace})
            self.tell_partners(
                f"{self.label} lost their connection. The game goes on; they have {format_seconds(grace)} to come back."
            )
        self._grace = asyncio.get_running_loop().call_later(grace, self._grace_expired)

    def _grace_expired(self) -> None:
        self._grace = None
        game = self.game
        if self.sid is not None or game is None:
            return
        self.pod.dropped += 1
        if self.alone_in(game):
            self.pod.event(self, "abandoned", {"game": game.id, "episode": game.episode})
            self.end_game("abandoned")
        else:
            self.leave_group("dropped")

    def alone_in(self, game: AnyGame) -> bool:
        """The only participant in the game (solo, or the rest of a group's seats are AI): it pauses for them."""
        return game.solo or list(game.members.values()) == [self]

    @property
    def label(self) -> str:
        """How partners see this participant: the seat's label, else its agent id, capitalised."""
        if self.game is None or self.agent is None:
            return "Your partner"
        spec = self.game.scene.players[self.agent]
        return spec.label or self.agent.capitalize()

    def tell_partners(self, text: str) -> None:
        """A notice to everyone else in this participant's group game."""
        game = self.game
        if game is None:
            return
        for member in game.members.values():
            if member is not self:
                self.pod.spawn(member.emit(Event.NOTICE, {"text": text}))

    def leave_lobby(self, why: str) -> None:
        """Leave the current scene's waiting room, if waiting."""
        lobby = self.pod.lobbies.get(self.progress.current)
        if lobby is not None:
            lobby.leave(self, why)

    def leave_group(self, reason: str, ending: str | None = None, message: str | None = None) -> None:
        """Leave a group game for good (`dropped`, `excluded`): the spec's onDropout decides what follows.

        This participant's session ends with `ending` (default: the reason) and its `message`, if any.

        `fallback`: the seat's fallback player plays on for this participant and the others play on.
        `end`: the game ends for everyone; the others end with the `partnerLeft` ending.
        """
        game, agent = self.game, self.agent
        if game is None or agent is None or not game.is_active:
            return
        rules = game.scene.grouping
        others = [m for m in game.members.values() if m is not self]
        seat = game.scene.players[agent]
        takeover = rules.on_dropout == "fallback" and getattr(seat, "fallback", None) is not None and bool(others)
        decision = "fallback" if takeover else "end"
        detail = {"game": game.id, "group": game.group, "agent": agent, "reason": reason, "decision": decision}
        self.pod.event(self, "left_group", detail)
        for member in others:
            self.pod.event(member, "partner_left", detail | {"partner": self.progress.participant})
        gone = "did not come back" if reason == "dropped" else "had to leave the study"
        if takeover:
            self.tell_partners(f"{self.label} {gone}. The computer plays {self.label} from now on.")
            game.take_over(agent)
        else:
            self.tell_partners(f"{self.label} {gone}, so the game has to end. Everything is saved.")
            game.stop("dropout")
            self.pod.unschedule(game)
            for member in others:
                member.game = None
                self.pod.spawn(member.end_session("partner_left"))
        self.game = None
        self.progress.game = None
        self.pod.spawn(self.end_now(ending or reason, message))

    # scenes ----------------------------------------------------------------------------

    async def show_scene(self, resumed: bool) -> None:
        """Send the current scene; start or resume its game; complete the session at the end."""
        if self.progress.end_reason is not None:
            payload = {"index": len(self.progress.flow) - 1, "total": len(self.progress.flow),
                       "scene": ending_scene(self.pod.spec, self.progress), "resumed": resumed}  # fmt: skip
            await self.emit(Event.SCENE, payload)
            return
        scene = self.scene
        if isinstance(scene, EndScene) and self.progress.status != "completed":
            await self._complete(scene)
        payload = {
            "index": self.progress.index,
            "total": len(self.progress.flow),
            "scene": client_scene(scene, self.progress),
            "resumed": resumed,
            "preload": preload(self.pod, self.progress),
        }
        await self.emit(Event.SCENE, payload)
        if isinstance(scene, GymScene):
            await self._ensure_game(scene)
        elif isinstance(scene, UnityScene):
            self._ensure_unity(scene)

    async def _complete(self, scene: EndScene) -> None:
        p = self.progress
        p.completion_code = p.completion_code or (
            uuid.uuid4().hex[:10].upper() if scene.completion_code == "auto" else scene.completion_code
        )
        p.status = "completed"
        p.t_end_ns = time.time_ns()
        self.pod.completed += 1
        await self.pod.save(p)
        self.record_snapshot()
        self.pod.event(self, "completed", {"code": p.completion_code})

    async def end_session(self, reason: str, message: str | None = None) -> None:
        """End the session early with one of the spec's endings (its code; its message, or `message`)."""
        p = self.progress
        if p.end_reason is not None or p.status == "completed":
            return
        ending = getattr(self.pod.spec.endings, reason)
        p.end_reason = reason
        p.end_message = message
        p.status = "ended"
        auto = f"{CODE_PREFIX[reason]}{uuid.uuid4().hex[:8].upper()}"
        p.completion_code = auto if ending.code == "auto" else ending.code
        p.t_end_ns = time.time_ns()
        self._record_scene_left(p.t_end_ns, None, ended=reason)
        await self.pod.save(p)
        self.record_snapshot()
        self.pod.event(self, "ended", {"reason": reason, "code": p.completion_code, "scene": p.current})
        await self.show_scene(resumed=False)

    async def skip_game(self, notice: str) -> None:
        """A game that could not start: say so and move on."""
        await self.emit(Event.NOTICE, {"text": notice})
        async with self._lock:
            await self.advance(None)

    def heading_to_group(self) -> bool:
        """Whether a scene played in groups lies ahead (or now) without a group yet."""
        p = self.progress
        if p.status != "active":
            return False
        for key in p.flow[p.index :]:
            scene = self.pod.spec.scene(scene_id_of(key))
            if isinstance(scene, GymScene) and scene.group_size > 1 and key not in p.groups:
                return True
        return False

    def check_attention(self) -> None:
        """Exclude the participant when the spec's limit on leaving the page is passed."""
        limits, p = self.pod.spec.attention, self.progress
        over = (limits.max_hidden is not None and p.visibility_losses > limits.max_hidden) or (
            limits.max_blur is not None and p.focus_losses > limits.max_blur
        )
        if over:
            self.exclude("excluded", {"by": "attention", "hidden": p.visibility_losses, "blur": p.focus_losses})

    def exclude(self, ending: str, detail: dict[str, Any], message: str | None = None) -> None:
        """End the session with `ending` now: every exclusion rule ends here (the attention limits, a slow
        connection, the experiment's exclusion hook; `detail["by"]` says which).

        A waiting participant leaves the room; in a group game the spec's onDropout decides for the
        others (their fallback plays the seat, or the game ends for everyone).
        """
        if self.progress.status != "active":
            return
        self.pod.event(self, "excluded", detail | {"ending": ending})
        self.leave_lobby("excluded")
        if self.game is not None and not self.alone_in(self.game) and self.game.is_active:
            self.leave_group("excluded", ending, message)
            return
        self.end_game("excluded")
        self.pod.spawn(self.end_now(ending, message))

    async def end_now(self, ending: str, message: str | None = None) -> None:
        """End the session once a scene being finished meanwhile is done (and stop what that started)."""
        async with self._lock:
            if self.progress.end_reason is None and self.progress.status == "active":
                self.leave_lobby(ending)
                self.end_game("excluded")  # a game a scene finished meanwhile started (leave_group left none)
            await self.end_session(ending, message)

    async def finish_scene(self, scene_key: str, answers: dict[str, Any] | None) -> dict[str, Any]:
        """The browser says the current scene is done; check it, record it, move on."""
        async with self._lock:
            scene = self.scene
            if scene_key != self.progress.current or self.progress.status != "active":  # moved on, or ended meanwhile
                return {"ok": False, "errors": {"_": "This page is out of date; reloading it."}}
            if isinstance(scene, StaticScene):
                waited = (time.time_ns() - self.progress.scene_entered_ns) / 1e9
                if waited + 0.25 < scene.min_time_s:
                    return {"ok": False, "errors": {"_": "Please take a little longer to read."}}
                values, errors = check_page_answers(scene, answers)
                if errors:
                    return {"ok": False, "errors": errors}
                await self.advance(values)
            elif isinstance(scene, SurveyScene):
                clean, errors = check_answers(scene, answers)
                if errors:
                    return {"ok": False, "errors": errors}
                await self.advance(clean)
            else:
                return {"ok": False, "errors": {"_": "This scene ends by itself."}}
            return {"ok": True, "errors": {}}

    async def advance(self, answers: dict[str, Any] | None) -> None:
        """Record the scene being left, save progress, show the next scene."""
        p = self.progress
        now = time.time_ns()
        self._record_scene_left(now, answers)
        if answers is not None:
            p.answers[p.current] = answers
        p.index = min(p.index + 1, len(p.flow) - 1)
        p.scene_entered_ns = now
        await self.pod.save(p)
        self.record_snapshot()
        await self.show_scene(resumed=False)

    def _record_scene_left(self, now: int, answers: dict[str, Any] | None, ended: str | None = None) -> None:
        p = self.progress
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
                "ended": ended,
            },
        )

    def join(self, game: AnyGame, agent: str) -> None:
        """Play `agent` in `game` from now on."""
        self.game, self.agent = game, agent
        self.recent_games[game.id] = (agent, game)
        while len(self.recent_games) > RECENT_GAMES:
            del self.recent_games[next(iter(self.recent_games))]

    def record_frames(self, game_id: str, episode: int, steps: list[int], times: list[float]) -> None:
        """Store the draw times the browser reported for frames of one of this participant's games.

        Times are the browser's clock; `t_drawn_server_ms` adds the clock offset estimated from the
        latency pings so far (None before the first ping). Only frames the game could have shown
        are kept (a report naming another game, or a step not yet played, is dropped).
        """
        recent = self.recent_games.get(game_id)
        if recent is None:
            return
        agent, game = recent
        offset, received = self.progress.clock_offset_ms, time.time_ns()
        for step, drawn in zip(steps, times, strict=True):
            if not game.drawable(episode, step):
                continue
            self.pod.record(
                "frames",
                {**self.row_ids(), "game": game_id, "agent": agent, "episode": episode, "step": step,
                 "t_drawn_client_ms": drawn, "t_drawn_server_ms": None if offset is None else drawn + offset,
                 "t_recv_ns": received},
            )  # fmt: skip

    # games -----------------------------------------------------------------------------

    async def _ensure_game(self, scene: GymScene) -> None:
        p = self.progress
        if self.sid is None:
            return  # moved on while away (a group game ended): the next scene starts when they are back
        if self.pod.halted is not None:
            await self.end_session("technical")  # no game starts while data cannot be kept safely
            return
        if self.game is not None and self.game.is_active:
            if self.game.solo or self.game.status == Status.PAUSED:
                self.game.resume(self.agent)
            await self.pod.flush(self.game)
            return
        self._record_lost_game()
        played = p.episodes_played.get(p.current, 0)
        if played >= scene.episodes:
            await self.advance(None)
            return
        if scene.group_size > 1:
            self.pod.lobby(p.current, scene).join(self)
            return
        first = p.last_episode.get(p.current, 0) + 1
        game = self.pod.new_game(self, scene, first_episode=first, rounds_done=played)
        if game is None:
            await self.emit(Event.NOTICE, {"text": "This game could not start; moving on."})
            await self.advance(None)
            return
        self.game = game

    def _record_lost_game(self) -> None:
        """The game this participant was in died with its pod: say so in the data. A group's members each
        record it (with their own participant id) and are grouped again."""
        p = self.progress
        if p.game is None or p.game.get("scene") != p.current:
            return
        self.pod.record(
            "episodes",
            {**self.row_ids(), "scene": p.current, "game": p.game["id"], "group": p.game.get("group"),
             "episode": p.game["episode"], "status": "interrupted", "t_end_ns": time.time_ns()},
        )  # fmt: skip
        p.last_episode[p.current] = p.game["episode"]
        p.game = None
        p.groups.pop(p.current, None)

    def _ensure_unity(self, scene: UnityScene) -> None:
        """The Unity scene's run: its time limit runs from entering the scene, also across reloads."""
        if self.unity is None or self.unity.key != self.progress.current:
            self._record_lost_game()
            run = UnityRun(self, scene, lambda why: self.pod.spawn(self._after_unity(run)))
            self.unity = run
        self.unity.start_clock()

    async def _after_unity(self, run: UnityRun) -> None:
        async with self._lock:
            if self.unity is not run or self.progress.current != run.key:
                return
            self.unity = None
            await self.advance(None)

    def on_game_event(self, what: str, game: AnyGame) -> None:
        """Episode starts and ends are saved to progress; a finished game moves the flow on."""
        p = self.progress
        if what == "episode_start":
            p.game = {"id": game.id, "scene": p.current, "episode": game.episode, "group": game.group}
            p.last_episode[p.current] = game.episode
        elif what == "episode_end":
            p.episodes_played[p.current] = game.rounds_done
            p.last_episode[p.current] = game.episode
            p.game = None
            self.pod.writer.request_flush()
        self.pod.save_soon(p)
        if what == "failed":
            self.pod.spawn(self.emit(Event.NOTICE, {"text": "Something went wrong in this game; moving on."}))
        if what in ("done", "failed"):
            self.pod.spawn(self._after_game(game))

    async def _after_game(self, game: AnyGame) -> None:
        self.pod.unschedule(game)
        if self.game is not game:
            return
        self.game = None
        async with self._lock:
            await self.advance(None)

    def end_game(self, status: str) -> None:
        """Stop this participant's game (or Unity scene) now, recording the open episode as `status`."""
        if self.unity is not None:
            self.unity.close(status)
            self.unity = None
        game, self.game = self.game, None
        if game is not None:
            game.stop(status)
            self.pod.unschedule(game)
            self.progress.game = None
            self.pod.spawn(self.pod.save(self.progress))

    def shutdown(self, status: str) -> None:
        """The pod is stopping: record the running game as `status`."""
        if self._grace is not None:
            self._grace.cancel()
        self.end_game(status)
