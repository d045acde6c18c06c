"""The pod: one experiment's sessions, games, tick loops and data writer in one process."""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import random
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import socketio

from gymkube.game_pod import environments
from gymkube.game_pod.browser import has_browser_games, runtime_urls
from gymkube.game_pod.control_plane import TurnSource, pod_storage, pod_token_key
from gymkube.game_pod.environments import bundle_hash
from gymkube.game_pod.exclusion import ExclusionCheck
from gymkube.game_pod.fanout import Fanout
from gymkube.game_pod.game import Game, Status
from gymkube.game_pod.groups import Lobby
from gymkube.game_pod.metrics import PodMetrics
from gymkube.game_pod.presence import is_here, keep_sessions_current
from gymkube.game_pod.progress import Progress, ProgressStore
from gymkube.game_pod.remote import RemoteGame, browser_versions
from gymkube.game_pod.session import ParticipantSession
from gymkube.game_pod.settings import PodSettings
from gymkube.game_pod.stager import build_flow
from gymkube.game_pod.ticker import Ticker
from gymkube.game_pod.wire import MAX_WAITING_FRAMES, FrameWire
from gymkube.portable.inputs import is_count
from gymkube.spec.experiment import Experiment
from gymkube.spec.gym import GymScene
from gymkube.storage.chunks import DataWriter
from gymkube.storage.tables import GiveWay

log = logging.getLogger(__name__)

ARRIVED_S = 15.0
"""Connections reported in `arrived` for this long (a router counts an arrival as pending for less)."""
ARRIVED_KEPT = 2000


class Pod:
    """Shared state of a game pod; built at startup, closed at shutdown."""

    def __init__(self, settings: PodSettings, experiment: Experiment, sio: socketio.AsyncServer):
        self.settings = settings
        self.experiment = experiment
        self.spec = experiment.spec
        self.name = settings.pod_name
        self.sio = sio
        self.wire = FrameWire(sio) if settings.fast_frames else None
        self.storage = pod_storage(settings, experiment.name, self.spec.data.destination)
        self.token_key = pod_token_key(settings)
        self.turn = TurnSource(settings, experiment.name)
        self.writer = DataWriter(
            self.storage,
            experiment.name,
            settings.pod_name,
            settings.spool_dir / experiment.name,
            settings.flush_interval_s,
        )
        # While games are stepped, a flush gives way to the tick loop on the pod's core (tables.GiveWay):
        # about a third of the core at most, 76,000 rows/s, eight times what 300 sessions write.
        self.writer.give_way = GiveWay(when=lambda: any(t.games for t in self.tickers.values()))
        self.metrics = PodMetrics(experiment.name, settings.pod_name)
        self.fanout = Fanout(sio, self.wire, self.metrics, self._frame_dropped)
        self.writer.observer = self.metrics
        self.bundle_dir = settings.bundle_dir.resolve() if settings.bundle_dir else self._fetch_bundle()
        self.bundle_hash = bundle_hash(self.bundle_dir)
        self.progress_store = ProgressStore(self.storage, experiment.name)
        self.writer.on_spool_error = self.on_spool_error
        self.writer.before_flush = self.progress_store.save_pending
        self.sessions: dict[str, ParticipantSession] = {}
        """The participants in this pod's memory: here now, or gone only lately (see presence.py)."""
        self.arrived: collections.deque[tuple[float, int]] = collections.deque(maxlen=ARRIVED_KEPT)
        """(when, arrival number) of the latest connections, reported so the routers stop counting them as pending."""
        self.arriving = 0
        """Participants admitted whose session is still being opened (they count against capacity)."""
        self.completed = 0
        """Participants who reached the end scene on this pod."""
        self.by_sid: dict[str, ParticipantSession] = {}
        self.unity_columns: dict[str, set[str]] = {}
        """The step columns each Unity scene's builds have reported on this pod (bounded in unity.py)."""
        self.tickers: dict[int, Ticker] = {}
        self.remote_games: dict[str, RemoteGame] = {}
        """Games played in the browsers (client and p2p modes), by id."""
        self._remote_task: asyncio.Task[None] | None = None
        self.lobbies: dict[str, Lobby] = {}
        self.stopping = False
        """Told to stop (SIGTERM, Ctrl-C): running games may finish, no new one starts."""
        self.halted: str | None = None
        """Why no game may run here (the data spool cannot be written), or None."""
        self.dropped = 0
        self.errors: collections.deque[dict[str, Any]] = collections.deque(maxlen=50)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._writer_task: asyncio.Task[None] | None = None
        self._sessions_task: asyncio.Task[None] | None = None
        hook = self.spec.exclusion.hook
        self.exclusion = ExclusionCheck(self, hook) if hook else None
        self._exclusion_task: asyncio.Task[None] | None = None

    def _fetch_bundle(self) -> Path | None:
        """An uploaded bundle (`spec.bundle: sha256:...`) from storage, checked and unpacked locally."""
        digest = self.spec.bundle
        if digest is None or not digest.startswith("sha256:"):
            return None
        from gymkube.storage.bundles import extract_bundle, load_bundle

        target = self.settings.spool_dir / "bundles" / digest.removeprefix("sha256:")
        return extract_bundle(load_bundle(self.storage, digest), target)

    async def start(self) -> None:
        """Begin flushing (old spooled chunks first)."""
        loop = asyncio.get_running_loop()
        self._writer_task = loop.create_task(self.writer.keep_running(flush_first=True), name="data-writer")
        self._sessions_task = loop.create_task(keep_sessions_current(self), name="sessions")
        if self.exclusion is not None:
            self._exclusion_task = loop.create_task(self.exclusion.keep_checking(), name="exclusion")
        if has_browser_games(self):
            self._remote_task = asyncio.get_running_loop().create_task(self._sweep_remote_games())
        for scene in self.spec.gym_scenes():
            if scene.mode != "server":
                continue
            try:
                environments.preload(scene, self.bundle_dir)
            except Exception as exc:  # the first game says so again, to its participant
                self.error(f"scene {scene.id}: its environment cannot be loaded", repr(exc))
        log.info(
            "game pod %s serving experiment %r; data to %s",
            self.name,
            self.experiment.name,
            self.storage.url,
        )

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        """Run a coroutine in the background, keeping a reference and logging failures."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.error("background task failed", repr(task.exception()))

    def error(self, what: str, detail: str) -> None:
        """Log an error and keep it for the admin view."""
        log.error("%s: %s", what, detail)
        self.errors.append({"t_ns": time.time_ns(), "what": what, "detail": detail[:500]})

    # data ------------------------------------------------------------------------------

    def record(self, table: str, row: dict[str, Any]) -> None:
        """Queue a data row."""
        self.writer.add(table, row)

    def event(self, session: ParticipantSession, kind: str, detail: dict[str, Any]) -> None:
        """Queue an events-table row."""
        self.writer.add(
            "events",
            {
                **session.row_ids(),
                "t_ns": time.time_ns(),
                "kind": kind,
                "detail": json.dumps(detail),
            },
        )

    async def save(self, progress: Progress) -> None:
        """Write a participant's progress now (scene changes, endings: before the participant sees them)."""
        await self.progress_store.save(progress)

    def save_soon(self, progress: Progress) -> None:
        """Save a participant's progress before the next data chunk (see `ProgressStore.save_soon`)."""
        self.progress_store.save_soon(progress)

    # sessions and games ----------------------------------------------------------------

    @property
    def accepting(self) -> bool:
        """Whether a new participant may come in: not draining, and the data writer writes."""
        return not self.draining and self.writer.ready

    def occupancy(self) -> int:
        """Participants here now (see presence.py): what admission, the load report and the router count."""
        return sum(1 for s in self.sessions.values() if is_here(s)) + self.arriving

    async def admit(self, claims: dict[str, Any]) -> ParticipantSession | None:
        """The session of a token's participant if they may be here: in memory already, or new while there is room.

        None when the pod is full, not accepting, or cannot load the participant's progress (logged).
        """
        try:
            session = self.sessions.get(claims["p"])
            if session is not None:
                return session
            if not self.accepting or self.occupancy() >= self.spec.capacity:
                return None
            self.arriving += 1
            try:
                return await self.open_session(claims)
            except Exception as exc:  # storage unreachable, or a progress object it cannot read
                self.error(f"cannot open the session of {claims['p']}", repr(exc))
                return None
            finally:
                self.arriving -= 1
        finally:
            # The entry's reservation for this arrival ends here, and the router stops counting it: only
            # now, when the session is in memory (or refused), so that a load report made while its
            # progress loads does not leave the arrival out of both (a forming group would look empty).
            if is_count(claims.get("n")):
                self.arrived.append((time.monotonic(), claims["n"]))

    def evict(self, session: ParticipantSession) -> None:
        """Let a session leave memory (its participant is gone); its progress is saved with the next chunk.

        Its ties to its games go too: a game and its members refer to each other, and a cycle waits
        for a full garbage collection, which the tick loops run rarely (ticker.py) while references
        counted down free it at once.
        """
        participant = session.progress.participant
        if self.sessions.get(participant) is session:
            session.end_game("abandoned")  # a Unity scene's open episode (a game is over by now)
            del self.sessions[participant]
            self.progress_store.save_soon(session.progress)
            session.game = None
            session.recent_games.clear()

    async def open_session(self, claims: dict[str, Any]) -> ParticipantSession:
        """The live session for a token's participant: in memory, from storage, or new."""
        participant = claims["p"]
        session = self.sessions.get(participant)
        if session is not None:
            return session
        progress = await self.progress_store.load(participant)
        if participant in self.sessions:  # opened meanwhile by another connection of theirs
            return self.sessions[participant]
        if progress is None:
            params: dict[str, Any] = claims["q"] if isinstance(claims.get("q"), dict) else {}
            ordinal = claims["n"] if is_count(claims.get("n")) else 0
            progress = Progress(
                experiment=self.experiment.name,
                participant=participant,
                session=claims["s"],
                ordinal=ordinal,
                flow=build_flow(self.spec, participant, ordinal),
                url_params={str(k)[:64]: str(v)[:200] for k, v in list(params.items())[:32]},
                scene_entered_ns=time.time_ns(),
            )
            await self.save(progress)
        session = ParticipantSession(self, progress)
        self.sessions[participant] = session
        return session

    def ticker(self, fps: int) -> Ticker:
        """The tick loop for a frame rate."""
        if fps not in self.tickers:
            self.tickers[fps] = Ticker(fps, self.fanout.send, self.metrics.tick_watch(fps))
        return self.tickers[fps]

    def unschedule(self, game: Game | RemoteGame) -> None:
        """Stop stepping (or sweeping) a game that is over."""
        if isinstance(game, RemoteGame):
            self.remote_games.pop(game.id, None)
        else:
            self.ticker(game.scene.fps).remove(game)

    async def flush(self, game: Game | RemoteGame) -> None:
        """Send a game's pending messages now (outside its tick: reconnects, browser games)."""
        if game.outbox:
            messages, game.outbox = game.outbox, []
            pending = self.fanout.send(game, messages)
            if pending is not None:
                await pending

    async def _sweep_remote_games(self, every_s: float = 0.5) -> None:
        """Write the p2p steps that waited long enough for the other peers; send what the games queued."""
        while True:
            await asyncio.sleep(every_s)
            for game in list(self.remote_games.values()):
                try:
                    game.flush_pending()
                    await self.flush(game)
                except Exception as exc:
                    self.error(f"browser game {game.id} failed a sweep", repr(exc))

    def _frame_dropped(self, member: ParticipantSession) -> None:
        """Count a frame a slow connection did not get; the first one of each connection is also an event row."""
        self.metrics.frames_dropped += 1
        member.progress.frames_dropped += 1
        member.frames_dropped_here += 1
        if member.frames_dropped_here == 1:
            self.event(member, "frames_dropped", {"sid": member.sid, "max_waiting": MAX_WAITING_FRAMES})

    @staticmethod
    def _game_event(what: str, game: Game | RemoteGame) -> None:
        for member in list(game.members.values()):
            member.on_game_event(what, game)

    def _create_game(self, scene: GymScene, base_row: dict[str, Any], **options: Any) -> Game | RemoteGame | None:
        if self.draining:
            return None
        try:
            if scene.mode != "server":
                return RemoteGame(
                    scene, base_row, self.record, record_observations=self.spec.data.record_observations,
                    bundle_versions=browser_versions(scene), runtime=runtime_urls(self), **options,
                )  # fmt: skip
            return Game(
                scene,
                base_row,
                self.bundle_dir,
                self.record,
                record_observations=self.spec.data.record_observations,
                **options,
            )
        except Exception as exc:
            self.error(f"cannot start scene {scene.id!r}", repr(exc))
            return None

    def _play(self, game: Game | RemoteGame, members: dict[str, ParticipantSession]) -> None:
        game.members = dict(members)
        game.listener = self._game_event
        for agent, member in members.items():
            member.join(game, agent)
        if isinstance(game, RemoteGame):
            self.remote_games[game.id] = game
            game.announce()
            self.spawn(self.flush(game))
        else:
            self.ticker(game.scene.fps).add(game)

    def new_game(
        self, session: ParticipantSession, scene: GymScene, first_episode: int, rounds_done: int
    ) -> Game | RemoteGame | None:
        """Start a game for a participant's (solo) gym scene; None (logged) when it cannot start."""
        base_row = {
            **session.row_ids(),
            "scene": session.progress.current,
            "game": uuid.uuid4().hex[:12],
            "bundle_hash": self.bundle_hash,
        }
        game = self._create_game(scene, base_row, first_episode=first_episode, rounds_done=rounds_done)
        if game is not None:
            self._play(game, {scene.human_agent: session})
        return game

    def lobby(self, key: str, scene: GymScene) -> Lobby:
        """The waiting room of a scene instance."""
        if key not in self.lobbies:
            self.lobbies[key] = Lobby(self, key, scene)
        return self.lobbies[key]

    def start_group(
        self,
        key: str,
        scene: GymScene,
        arrivals: list[tuple[ParticipantSession, int]],
        by: str = "fifo",
        seats: list[str] | None = None,
    ) -> None:
        """A group leaves the waiting room (formed `by` a matchmaker, or at the longest wait): seats as the
        matchmaker gave them, else by lot (or arrival); empty seats to their fallbacks."""
        if seats is None:
            seats = list(scene.human_agents)
            if scene.grouping.roles == "random":
                random.shuffle(seats)
        members = {agent: session for agent, (session, _) in zip(seats, arrivals, strict=False)}
        empty = tuple(a for a in scene.human_agents if a not in members)
        group, now = uuid.uuid4().hex[:12], time.time_ns()
        base_row: dict[str, Any] = {
            "experiment": self.experiment.name,
            "participant": None,
            "session": None,
            "scene": key,
            "game": uuid.uuid4().hex[:12],
            "group": group,
            "bundle_hash": self.bundle_hash,
        }
        base_row |= {f"participant_{a}": s.progress.participant if (s := members.get(a)) else None for a in seats}
        progresses = [s.progress for s in members.values()]
        game = self._create_game(
            scene,
            base_row,
            first_episode=max(p.last_episode.get(key, 0) for p in progresses) + 1,
            rounds_done=min(p.episodes_played.get(key, 0) for p in progresses),
            group=group,
            empty_seats=empty,
        )
        roster = {a: s.progress.participant for a, s in members.items()}
        for agent, (session, since_ns) in zip(seats, arrivals, strict=False):
            p = session.progress
            p.waiting.pop(key, None)
            waited = round((now - since_ns) / 1e9, 3)
            formed = {"group": group, "agent": agent, "members": roster, "empty": list(empty), "waited_s": waited,
                      "matchmaker": by}  # fmt: skip
            p.groups[key] = formed | {"t_formed_ns": now}
            self.event(session, "group_formed", formed | {"scene": key})
            session.record_snapshot()
            self.spawn(self.save(p))
        if game is None:
            for session in members.values():
                self.spawn(session.skip_game("This game could not start; moving on."))
            return
        self._play(game, members)

    def ungrouped(self) -> int:
        """Connected participants still to be grouped on this pod (routing fills these groups first)."""
        return sum(1 for s in self.sessions.values() if s.sid is not None and s.heading_to_group())

    def load(self) -> dict[str, Any]:
        """What this pod reports for routing and the admin view.

        `participants` is the number admission compares with `capacity`; `draining` says no one new
        should be sent here (stopping, halted, or the data writer not writing).
        """
        playing = sum(len(t.games) for t in self.tickers.values()) + len(self.remote_games)
        waiting = sum(len(lobby) for lobby in self.lobbies.values())
        return {
            "pod": self.name,
            "experiment": self.experiment.name,
            "alive": True,
            "ready": self.accepting,
            "participants": self.occupancy(),
            "arrived": [n for t, n in self.arrived if t > time.monotonic() - ARRIVED_S],
            "connected": len(self.by_sid),
            "in_memory": len(self.sessions),
            "games": playing,
            "waiting": waiting,
            "ungrouped": self.ungrouped(),
            "completed": self.completed,
            "dropped": self.dropped,
            "capacity": self.spec.capacity,
            "draining": not self.accepting,
            "spooled_chunks": self.writer.spooled_chunks,
            "storage_error": self.writer.spool_error or self.writer.last_error,
            "writer_error": self.writer.failure,
            "errors": list(self.errors)[-10:],
        }

    # shutdown --------------------------------------------------------------------------

    @property
    def draining(self) -> bool:
        """Taking no one new and starting no game: stopping, or halted."""
        return self.stopping or self.halted is not None

    def on_spool_error(self, reason: str | None) -> None:
        """The spool cannot be written: stop every game and take no one new until it can again.

        Rows go straight to storage meanwhile (nothing already written is touched); games end now
        rather than run on without the spool's protection against a storage outage.
        """
        if reason is None:
            if self.halted is not None:
                log.warning("game pod %s takes participants again: the spool is writable", self.name)
                self.halted = None
            return
        self.error("the data spool cannot be written: games end, no one new is taken", reason)
        self.halted = reason
        self.spawn(self._end_games("technical"))

    async def _end_games(self, reason: str) -> None:
        """End the session of everyone in a game or a waiting room, with the `reason` ending."""
        for session in list(self.sessions.values()):
            if session.progress.status != "active" or not isinstance(session.scene, GymScene):
                continue
            session.leave_lobby("ended")
            session.end_game("error")
            await session.end_session(reason)

    def _being_played(self) -> bool:
        """Whether a game is being played now: a paused one (its only participant left) is not waited for."""
        if self.remote_games:
            return True
        return any(game.status != Status.PAUSED for t in self.tickers.values() for game in t.games.values())

    async def drain(self, timeout_s: float) -> None:
        """No new games; wait (bounded) for the games being played to finish.

        A game paused because its only participant left is not waited for: `close` records it
        `interrupted` at once (waiting would hold a Ctrl-C or a pod's rollout for the rest of its
        reconnect grace period, for nobody).
        """
        self.stopping = True
        deadline = time.monotonic() + timeout_s
        while self._being_played() and time.monotonic() < deadline:
            await asyncio.sleep(0.2)

    async def close(self) -> None:
        """Interrupt what still runs, record it, flush everything."""
        self.stopping = True
        for lobby in self.lobbies.values():
            await lobby.close()
        for session in list(self.sessions.values()):
            session.shutdown("interrupted")
            session.record_snapshot()
        for ticker in self.tickers.values():
            await ticker.close()
        for task in (self._remote_task, self._sessions_task, self._exclusion_task):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._writer_task is not None:
            self._writer_task.cancel()
            await asyncio.gather(self._writer_task, return_exceptions=True)
        await self.writer.close()
        for attempt in range(5):
            await self.progress_store.save_pending()
            if not self.progress_store.unsaved:
                break
            await asyncio.sleep(min(2.0, 0.2 * 2**attempt))
        else:
            log.error("progress of %d participant(s) could not be saved", len(self.progress_store.unsaved))
        log.info("game pod %s stopped; %d rows written", self.name, self.writer.rows_written)
