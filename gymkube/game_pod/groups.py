"""Waiting rooms: participants reaching a gym scene with several human seats are grouped by arrival.

One `Lobby` per scene instance on a pod. A participant joins when they reach the scene and
leaves when their group starts, when they disconnect (the seat is freed; the others keep
waiting) or at the longest wait, when the spec either fills the empty seats with their
fallback players or ends the participant's session with the `waitTimeout` ending. With a
latency limit, only participants whose median round trip is under it are grouped.

The wait is timed from the participant's first arrival (kept in their progress), so reloading
the page neither restarts nor shortens it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gymkube.game_pod.protocol import Event
from gymkube.spec.gym import GymScene

if TYPE_CHECKING:
    from gymkube.game_pod.pod import Pod
    from gymkube.game_pod.session import ParticipantSession

log = logging.getLogger(__name__)

CHECK_EVERY_S = 0.25
"""How often a waiting room checks for timeouts and newly eligible participants."""
ANNOUNCE_EVERY_S = 3.0
"""How often waiting participants are told the state of the room when nothing changes."""
LATENCY_SAMPLES = 5
"""The latency gate uses the median of the newest round trips."""


def median_rtt(session: ParticipantSession) -> float | None:
    """The median of the newest round trips to this pod, or None before the first one."""
    samples = session.progress.latency_ms[-LATENCY_SAMPLES:]
    return statistics.median(samples) if samples else None


@dataclass
class Waiter:
    """One participant in a waiting room."""

    session: ParticipantSession
    since_ns: int
    deadline: float  # time.monotonic() at which the longest wait is over


class Lobby:
    """The waiting room of one gym scene instance on this pod."""

    def __init__(self, pod: Pod, key: str, scene: GymScene) -> None:
        self.pod = pod
        self.key = key
        self.scene = scene
        self.rules = scene.grouping
        self.size = scene.group_size
        self.waiting: dict[str, Waiter] = {}  # by participant, in arrival order
        self._task: asyncio.Task[None] | None = None
        self._announced = 0.0

    def __len__(self) -> int:
        return len(self.waiting)

    def eligible(self, session: ParticipantSession) -> bool:
        """Connected, and under the latency limit when the spec sets one."""
        if session.sid is None:
            return False
        limit = self.rules.max_latency_ms
        if limit is None:
            return True
        rtt = median_rtt(session)
        return rtt is not None and rtt < limit

    def join(self, session: ParticipantSession) -> None:
        """A participant reached the scene: wait (the group may start at once)."""
        p = session.progress
        if session.sid is None:
            return  # moved here while away: they join when they are back
        if p.participant in self.waiting:
            self.announce()
            return
        now_ns = time.time_ns()
        since = p.waiting.setdefault(self.key, now_ns)
        left = self.rules.max_wait_s - (now_ns - since) / 1e9
        self.waiting[p.participant] = Waiter(session, since, time.monotonic() + left)
        self.pod.event(session, "waiting_join", {"scene": self.key, "waited_s": round((now_ns - since) / 1e9, 3)})
        self.pod.spawn(self.pod.save(p))
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch(), name=f"lobby-{self.key}")
        self.check()
        self.announce()

    def leave(self, session: ParticipantSession, why: str) -> None:
        """A participant left the waiting room (disconnected, excluded): their seat is free again."""
        waiter = self.waiting.pop(session.progress.participant, None)
        if waiter is None:
            return
        waited = (time.time_ns() - waiter.since_ns) / 1e9
        self.pod.event(session, "waiting_leave", {"scene": self.key, "why": why, "waited_s": round(waited, 3)})
        self.announce()

    def check(self) -> None:
        """Start every group that is complete; deal with waits that are over.

        A draining pod starts no group: its waiters keep their wait clock and carry on elsewhere.
        """
        if self.pod.draining:
            return
        ready = [w for w in self.waiting.values() if self.eligible(w.session)]
        while len(ready) >= self.size:
            chosen, ready = ready[: self.size], ready[self.size :]
            self._start(chosen)
        now = time.monotonic()
        for waiter in [w for w in self.waiting.values() if w.deadline <= now]:
            if waiter.session.progress.participant not in self.waiting:
                continue  # grouped just now with an earlier one whose wait was over
            self._timed_out(waiter)

    def _timed_out(self, waiter: Waiter) -> None:
        session = waiter.session
        if self.rules.on_wait_timeout == "fallback" and session.sid is not None:
            chosen = [waiter]
            if self.eligible(session):  # others who may be grouped join this group
                others = [w for w in self.waiting.values() if w is not waiter and self.eligible(w.session)]
                chosen += others[: self.size - 1]
            self._start(chosen)
            return
        del self.waiting[session.progress.participant]
        waited = (time.time_ns() - waiter.since_ns) / 1e9
        self.pod.event(session, "wait_timeout", {"scene": self.key, "waited_s": round(waited, 3), "decision": "end"})
        self.pod.spawn(session.end_session("wait_timeout"))
        self.announce()

    def _start(self, chosen: list[Waiter]) -> None:
        for waiter in chosen:
            del self.waiting[waiter.session.progress.participant]
        self.pod.start_group(self.key, self.scene, [(w.session, w.since_ns) for w in chosen])
        self.announce()

    def announce(self, force: bool = True) -> None:
        """Tell every waiting participant how many are here and how long the wait may last."""
        now = time.monotonic()
        if not force and now - self._announced < ANNOUNCE_EVERY_S:
            return
        self._announced = now
        ready = sum(1 for w in self.waiting.values() if self.eligible(w.session))
        for waiter in self.waiting.values():
            held_back = self.rules.max_latency_ms is not None and not self.eligible(waiter.session)
            payload = {
                "scene": self.key,
                "have": 1 if held_back else max(1, min(ready, self.size - 1)),
                "size": self.size,
                "remaining": round(max(0.0, waiter.deadline - now), 1),
                "gate": "latency" if held_back else None,
            }
            self.pod.spawn(waiter.session.emit(Event.WAITING, payload))

    async def _watch(self) -> None:
        while self.waiting:
            await asyncio.sleep(CHECK_EVERY_S)
            try:
                self.check()
                self.announce(force=False)
            except Exception:
                log.exception("waiting room %s failed a check", self.key)

    async def close(self) -> None:
        """Stop watching (the pod is stopping)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
