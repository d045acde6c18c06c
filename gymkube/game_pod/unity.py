"""A participant's visit of a Unity scene: what the build reports becomes `episodes` and `steps` rows.

The build (through the bridge in its frame and the participant's page) reports episode starts, steps with
columns of its own, episode ends and the end of the scene, in batches (`unity` events, checked by
`payloads.UnityPayload`). The pod numbers the episodes and their steps itself (1..n, as for gym scenes),
stamps each row with the participant's ids and its receive time, and takes each entry once: the page
numbers its entries (`q`) and resends a batch that was not acknowledged, so an entry at or below the last
one seen is skipped (one refused, with its reason, is not taken on a resend either). A new start while an
episode is open means the build started again (a reloaded page): the open episode is recorded
`interrupted`. The scene ends when the build says so (`done`), after the scene's `episodes`, or at
`timeLimitS` from entering it (an open episode is then `truncated`).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from gymkube.game_pod.payloads import UnityDone, UnityEnd, UnityEntry, UnityStart, plain_json
from gymkube.spec.scenes import UnityScene

if TYPE_CHECKING:
    from gymkube.game_pod.session import ParticipantSession

log = logging.getLogger(__name__)

MAX_STEPS = 100_000
"""Steps in one episode."""
MAX_EPISODES = 2000
"""Episodes in one visit of a scene (the spec's `episodes` is at most 1000; restarts add a few)."""
MAX_TEXT = 1000
RESERVED = {"experiment", "participant", "session", "scene", "game", "episode", "step", "group", "mode",
            "t_tick_ns", "t_client_ms", "t_planned_ns"}  # fmt: skip
"""Columns gymkube writes itself; a build's column of the same name is refused."""
RESERVED_PREFIXES = ("participant_", "source_", "action_", "input_")
MAX_RUN_COLUMNS = 64
"""Distinct step columns in one visit of a scene: a build reports a fixed set; a modified page that names new
columns in every step would otherwise widen the steps table without end."""
MAX_SCENE_COLUMNS = 256
"""Distinct step columns of one scene on a pod, over all visits. Names seen before are always taken, so pages that
fill it with made-up names cannot shut out the columns honest builds had already reported."""


class UnityRefused(ValueError):
    """An entry the pod does not take (the rest of the batch is still read; the first reason goes back to the page)."""


def cell(value: Any) -> Any:
    """A reported value as one table cell: numbers, booleans and short text as they are; anything else as JSON."""
    value = plain_json(value, depth=3, items=32, chars=MAX_TEXT)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    text = json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 4 * MAX_TEXT else None


def columns(reported: dict[str, Any], run_names: set[str], scene_names: set[str]) -> dict[str, Any]:
    """A build's step columns as cells, their names added to the visit's and the scene's; UnityRefused for a name
    gymkube writes itself or one past either bound (nothing is added then)."""
    taken = [n for n in reported if n in RESERVED or n.startswith(RESERVED_PREFIXES)]
    if taken:
        raise UnityRefused(f"column(s) {', '.join(sorted(taken))} are gymkube's own; rename them in the build")
    new_here = reported.keys() - run_names
    if len(run_names) + len(new_here) > MAX_RUN_COLUMNS:
        raise UnityRefused(f"more than {MAX_RUN_COLUMNS} different step columns in one scene")
    new_anywhere = new_here - scene_names
    if len(scene_names) + len(new_anywhere) > MAX_SCENE_COLUMNS:
        raise UnityRefused(f"this scene's steps have {MAX_SCENE_COLUMNS} different columns already; no new ones")
    run_names |= new_here
    scene_names |= new_anywhere
    return {name: cell(value) for name, value in reported.items()}


class UnityRun:
    """One participant in one Unity scene: episodes and steps as the build reports them, and the scene's end."""

    def __init__(self, session: ParticipantSession, scene: UnityScene, finish: Callable[[str], None]) -> None:
        self.session = session
        self.scene = scene
        self.key = session.progress.current
        self.finish = finish
        self.game = f"unity-{uuid.uuid4().hex[:12]}"
        self.episode = session.progress.last_episode.get(self.key, 0)
        self.open = False
        self.step = 0
        self.t_start_ns = 0
        self.info: dict[str, Any] = {}
        self.last_q = -1
        self.column_names: set[str] = set()
        self.episodes_here = 0
        self.ended = False
        self.timer: asyncio.TimerHandle | None = None

    def start_clock(self) -> None:
        """End the scene at its time limit, counted from when the participant entered it (a reload keeps it)."""
        if self.timer is not None or self.ended:
            return
        entered_s = (time.time_ns() - self.session.progress.scene_entered_ns) / 1e9
        remaining = max(0.0, self.scene.time_limit_s - entered_s)
        self.timer = asyncio.get_running_loop().call_later(remaining, self.end, "time_limit")

    def row_ids(self) -> dict[str, Any]:
        """Whose row it is, and of which scene and game."""
        return {**self.session.row_ids(), "scene": self.key, "game": self.game}

    def receive(self, entries: list[UnityEntry]) -> tuple[int, str | None]:
        """Take a batch in order; (entries taken, why the first entry not taken was refused). An entry refused is
        not taken later either, and the ones after it still are (the page sends a batch once it is answered).
        `finish` is called at the end."""
        taken, why = 0, None
        for entry in entries:
            if entry.q <= self.last_q:
                continue  # sent again after a reconnect: taken already
            if self.ended:
                return taken, why or "the scene is over"
            self.last_q = entry.q
            try:
                self._take(entry)
            except UnityRefused as exc:
                why = why or str(exc)
                continue
            taken += 1
        return taken, why

    def _take(self, entry: UnityEntry) -> None:
        now = time.time_ns()
        if isinstance(entry, UnityStart):
            if self.open:
                self._close("interrupted", None)  # the build started over: a reloaded page
            if self.episodes_here >= MAX_EPISODES:
                raise UnityRefused(f"more than {MAX_EPISODES} episodes in one scene")
            self.episode += 1
            self.episodes_here += 1
            self.open, self.step, self.t_start_ns = True, 0, now
            self.info = {k: cell(v) for k, v in (entry.info or {}).items()}
            progress = self.session.progress
            progress.game = {"id": self.game, "scene": self.key, "episode": self.episode, "group": None}
            progress.last_episode[self.key] = self.episode
            self.session.pod.save_soon(progress)
        elif isinstance(entry, UnityEnd):
            if not self.open:
                raise UnityRefused("an episode ends that did not start")
            self.info |= {k: cell(v) for k, v in (entry.info or {}).items()}
            self._close(entry.status, entry.score)
            if self.scene.episodes is not None and self.episodes_here >= self.scene.episodes:
                self.end("episodes")
        elif isinstance(entry, UnityDone):
            self.end("done")
        else:
            if not self.open:
                raise UnityRefused("a step outside an episode (report the episode's start first)")
            if self.step >= MAX_STEPS:
                raise UnityRefused(f"more than {MAX_STEPS} steps in one episode")
            scene_names = self.session.pod.unity_columns.setdefault(self.key, set())
            values = columns(entry.c, self.column_names, scene_names)
            self.step += 1
            row = {**self.row_ids(), "episode": self.episode, "step": self.step, "t_tick_ns": now,
                   "t_client_ms": entry.t, **values}  # fmt: skip
            self.session.pod.record("steps", row)

    def _close(self, status: str, score: float | None) -> None:
        """Record the open episode's row."""
        self.open = False
        progress = self.session.progress
        self.session.pod.record(
            "episodes",
            {**self.row_ids(), "episode": self.episode, "status": status, "steps": self.step, "score": score,
             "seed": None, "t_start_ns": self.t_start_ns, "t_end_ns": time.time_ns(), "mode": "unity",
             "env": self.scene.build_name or self.scene.build, "env_source": "unity",
             "info": json.dumps(self.info, sort_keys=True) if self.info else None},
        )  # fmt: skip
        if status in ("terminated", "truncated", "abandoned"):
            progress.episodes_played[self.key] = progress.episodes_played.get(self.key, 0) + 1
        progress.game = None
        self.session.pod.save_soon(progress)
        self.session.pod.writer.request_flush()

    def end(self, why: str) -> None:
        """The scene is over (the build said so, its episodes are played, or its time is up): on to the next."""
        if self.ended:
            return
        self.close("truncated")
        self.ended = True
        self.session.pod.event(self.session, "unity_scene_end", {"scene": self.key, "game": self.game, "why": why})
        self.finish(why)

    def close(self, status: str) -> None:
        """Stop: an open episode is recorded with `status`; the time limit no longer runs."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.open:
            self._close(status, None)
