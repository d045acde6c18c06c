"""A participant's progress, kept in storage at every scene change so any pod can resume it."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from gymkube.storage.backends import Storage

log = logging.getLogger(__name__)

MAX_LATENCY_SAMPLES = 200


def progress_key(experiment: str, participant: str) -> str:
    """Where one participant's progress lives in storage."""
    return f"experiments/{experiment}/progress/{participant}.json"


@dataclass
class Progress:
    """Everything needed to put a participant back where they were."""

    experiment: str
    participant: str
    session: str
    ordinal: int
    flow: list[str]
    url_params: dict[str, str] = field(default_factory=dict)
    index: int = 0
    status: str = "active"
    completion_code: str | None = None
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    episodes_played: dict[str, int] = field(default_factory=dict)
    last_episode: dict[str, int] = field(default_factory=dict)
    game: dict[str, Any] | None = None
    scene_entered_ns: int = 0
    t_start_ns: int = field(default_factory=time.time_ns)
    t_end_ns: int | None = None
    client: dict[str, Any] = field(default_factory=dict)
    latency_ms: list[float] = field(default_factory=list)
    clock_offsets_ms: list[float] = field(default_factory=list)
    clock_offset_ms: float | None = None
    visibility_losses: int = 0
    focus_losses: int = 0
    connects: int = 0
    end_reason: str | None = None
    end_message: str | None = None
    """The exclusion hook's own message for the ending, shown instead of the ending's."""
    drops: int = 0
    waiting: dict[str, int] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    client_errors: int = 0
    ignored: dict[str, int] = field(default_factory=dict)
    """Messages from the page that were not taken, by kind (unknown, malformed, over budget; see limits.py)."""

    @property
    def current(self) -> str:
        """The scene instance the participant is in."""
        return self.flow[min(self.index, len(self.flow) - 1)]

    def add_latency(self, rtt: float, offset: float) -> None:
        """Keep a bounded window of round trips; the offset is a running median."""
        self.latency_ms = (self.latency_ms + [round(rtt, 2)])[-MAX_LATENCY_SAMPLES:]
        self.clock_offsets_ms = (self.clock_offsets_ms + [round(offset, 2)])[-25:]
        ordered = sorted(self.clock_offsets_ms)
        self.clock_offset_ms = round(ordered[len(ordered) // 2], 2)

    def to_json(self) -> bytes:
        """Serialised for storage (every value came through a bounded model; `str` is the last resort)."""
        return json.dumps(asdict(self), separators=(",", ":"), default=str).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Progress:
        """Parse what `to_json` wrote."""
        return cls(**json.loads(data))

    def session_row(self, pod: str) -> dict[str, Any]:
        """A snapshot row for the sessions table (the newest per session wins at export)."""
        screen = self.client.get("screen")
        viewport = self.client.get("viewport")
        return {
            "experiment": self.experiment,
            "participant": self.participant,
            "session": self.session,
            "ordinal": self.ordinal,
            "status": self.status,
            "scene_index": self.index,
            "scene": self.current,
            "assignment": json.dumps(self.flow),
            "url_params": json.dumps(self.url_params, sort_keys=True),
            "user_agent": str(self.client.get("ua", ""))[:500],
            "screen": "x".join(map(str, screen)) if isinstance(screen, list) else None,
            "viewport": "x".join(map(str, viewport)) if isinstance(viewport, list) else None,
            "completion_code": self.completion_code,
            "answers": json.dumps(self.answers, sort_keys=True),
            "latency_ms": json.dumps(self.latency_ms),
            "clock_offset_ms": self.clock_offset_ms,
            "visibility_losses": self.visibility_losses,
            "focus_losses": self.focus_losses,
            "connects": self.connects,
            "drops": self.drops,
            "episodes_played": json.dumps(self.episodes_played, sort_keys=True),
            "end_reason": self.end_reason,
            "end_message": self.end_message,
            "groups": json.dumps(self.groups, sort_keys=True) if self.groups else None,
            "client_errors": self.client_errors,
            "ignored_events": json.dumps(self.ignored, sort_keys=True) if self.ignored else None,
            "wait_s": round(sum(g["waited_s"] for g in self.groups.values()), 3) if self.groups else None,
            "t_start_ns": self.t_start_ns,
            "t_end_ns": self.t_end_ns,
            "updated_ns": time.time_ns(),
            "pod": pod,
        }


def load_progress(storage: Storage, experiment: str, participant: str) -> Progress | None:
    """The stored progress, or None for a new participant."""
    try:
        return Progress.from_json(storage.get(progress_key(experiment, participant)))
    except KeyError:
        return None


def save_progress(storage: Storage, progress: Progress, snapshot: bytes | None = None) -> None:
    """Write the progress, or a `snapshot` of it taken earlier (blocking; call from a thread)."""
    storage.put(progress_key(progress.experiment, progress.participant), snapshot or progress.to_json())


class ProgressStore:
    """Participants' progress in storage, and the saves still to make (before the next chunk, or once storage is back).

    `load` gives the newest progress of a participant: one still waiting to be saved, or being
    saved, before storage's copy, so a participant who left memory and comes back at once
    carries on from where they were.
    """

    def __init__(self, storage: Storage, experiment: str) -> None:
        self.storage = storage
        self.experiment = experiment
        self.unsaved: dict[str, Progress] = {}
        """Progress to save before the next data chunk (changed, or refused by storage during an outage)."""
        self._writing: dict[str, Progress] = {}
        self._failing = False

    async def load(self, participant: str) -> Progress | None:
        """The participant's newest progress, or None for a new participant."""
        newest = self.unsaved.get(participant) or self._writing.get(participant)
        if newest is not None:
            return newest
        return await asyncio.to_thread(load_progress, self.storage, self.experiment, participant)

    async def save(self, progress: Progress) -> None:
        """Write a participant's progress now (scene changes, endings: before the participant sees them)."""
        self.unsaved.pop(progress.participant, None)
        await self._write([progress])

    def save_soon(self, progress: Progress) -> None:
        """Save a participant's progress before the next data chunk (the hot path: episode starts and ends).

        Progress of many games is written in one worker-thread job per flush instead of a job per
        change, and always before the rows that depend on it reach storage.
        """
        self.unsaved[progress.participant] = progress

    async def save_pending(self) -> None:
        """Save the progress waiting to be saved (changed by games, or refused by storage before)."""
        if self.unsaved:
            pending, self.unsaved = self.unsaved, {}
            await self._write(list(pending.values()))

    async def _write(self, batch: list[Progress]) -> None:
        """Snapshots taken now, written in one worker-thread job; what storage refuses waits in `unsaved`."""
        snapshots = [(progress, progress.to_json()) for progress in batch]
        for progress in batch:
            self._writing[progress.participant] = progress
        try:
            failure = await asyncio.to_thread(self._put, snapshots)
        finally:
            for progress in batch:
                if self._writing.get(progress.participant) is progress:
                    del self._writing[progress.participant]
        if failure is None:
            if self._failing:
                self._failing = False
                log.info("progress saved again: storage is reachable")
            return
        failed_at, exc = failure
        for progress, _ in snapshots[failed_at:]:
            self.unsaved.setdefault(progress.participant, progress)  # a newer save_soon wins (same object)
        if not self._failing:
            self._failing = True
            log.warning("cannot save progress (kept in memory and retried at every flush): %s", exc)

    def _put(self, snapshots: list[tuple[Progress, bytes]]) -> tuple[int, Exception] | None:
        """Write each snapshot in turn; the index of the first that storage refused and why, or None."""
        for index, (progress, snapshot) in enumerate(snapshots):
            try:
                save_progress(self.storage, progress, snapshot)
            except Exception as exc:
                return index, exc
        return None
