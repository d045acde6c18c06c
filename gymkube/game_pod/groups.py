"""Waiting rooms: participants reaching a gym scene with several human seats wait here until a group forms.

One `Lobby` per scene instance on a pod. A participant joins when they reach the scene and leaves
when their group starts, when they disconnect (the seat is freed; the others keep waiting) or at the
longest wait, when the spec either fills the empty seats with their fallback players or ends the
participant's session with the `waitTimeout` ending. Who plays with whom is the matchmaker's choice
within the spec's rules (gymkube/game_pod/matchmaking.py); with a latency limit only participants whose
median round trip to the pod is under it may be grouped, and in p2p scenes the waiting browsers
measure their round trips to each other (gymkube/game_pod/probes.py).

The wait is timed from the participant's first arrival (kept in their progress), so reloading
the page neither restarts nor shortens it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gymkube.game_pod.custom_matchmaker import CustomMatchmaker
from gymkube.game_pod.matchmaking import BadGroups, Candidate, Fit, Rules, describe, fill_partly, propose, read_groups
from gymkube.game_pod.probes import PeerProbes, Report
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
ASK_EVERY_S = 1.0
"""How often a researcher's matchmaker is asked when the room has not changed."""


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
        self._wake = asyncio.Event()
        probing = scene.mode == "p2p" and (self.rules.max_peer_rtt_ms is not None or self.rules.matchmaker != "fifo")
        self.probes = PeerProbes(self.rules.max_peer_rtt_ms, self._tell, self._record) if probing else None
        self.fits = Rules(self.rules, self.probes.rtt if self.probes is not None else None)
        builtin = self.rules.matchmaker in ("fifo", "latency")
        self.custom = None if builtin else CustomMatchmaker(self.rules.matchmaker, pod.bundle_dir, self._complain)
        self._asking: asyncio.Task[None] | None = None
        self._asked: tuple[tuple[str, ...], float] = ((), 0.0)  # who was waiting at the last question, and when
        self._proposed: tuple[list[dict[str, str] | list[str]], str] | None = None  # an answer not yet applied
        self._complained: tuple[str, float] = ("", -1e9)

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
        if self.probes is not None:
            self.probes.forget(session.progress.participant)
        waited = (time.time_ns() - waiter.since_ns) / 1e9
        self.pod.event(session, "waiting_leave", {"scene": self.key, "why": why, "waited_s": round(waited, 3)})
        self.announce()

    # matching ----------------------------------------------------------------------------

    def candidate(self, waiter: Waiter) -> Candidate:
        """What the matchmaker knows of a waiting participant."""
        p = waiter.session.progress
        previous = tuple(
            {"scene": scene, "group": g.get("group"), "agent": g.get("agent"), "members": dict(g.get("members") or {})}
            for scene, g in p.groups.items()
            if scene != self.key
        )
        return Candidate(p.participant, waiter.since_ns, dict(p.url_params), tuple(p.flow),
                         median_rtt(waiter.session), previous)  # fmt: skip

    def _ready(self) -> list[Candidate]:
        return [self.candidate(w) for w in self.waiting.values() if self.eligible(w.session)]

    def check(self) -> None:
        """Start every group the matchmaker forms; probe pairs still unmeasured; deal with waits that are over.

        A draining pod starts no group: its waiters keep their wait clock and carry on elsewhere.
        """
        if self.pod.draining:
            return
        ready = self._ready()
        if self.probes is not None:
            self.probes.plan([c.participant for c in ready], self._worth_probing(ready))
        if self.custom is None:
            by = self.rules.matchmaker
            for group in propose(ready, self.size, self.fits, cheapest=by == "latency"):
                self._start([self.waiting[c.participant] for c in group], by)
        else:
            self._use_custom(ready)
        now = time.monotonic()
        for waiter in [w for w in self.waiting.values() if w.deadline <= now]:
            if waiter.session.progress.participant not in self.waiting:
                continue  # grouped just now with an earlier one whose wait was over
            self._timed_out(waiter)

    def _worth_probing(self, ready: list[Candidate]) -> Callable[[str, str], bool]:
        """Pairs the other rules allow (a pair that may never play together is not measured)."""
        by_id = {c.participant: c for c in ready}
        unlimited = Rules(self.rules.model_copy(update={"max_peer_rtt_ms": None}))
        return lambda a, b: unlimited.fit(by_id[a], by_id[b]) is Fit.YES

    def _use_custom(self, ready: list[Candidate]) -> None:
        """Apply the researcher's last answer (checked again: the room may have changed); ask again when due."""
        proposed, self._proposed = self._proposed, None
        if proposed is not None:
            groups, by = proposed
            by_id = {c.participant: c for c in ready}
            for group in groups:
                seats = list(group) if isinstance(group, dict) else None
                members = list(group.values()) if isinstance(group, dict) else group
                if not all(m in by_id and m in self.waiting for m in members):
                    continue  # someone left (or was grouped) since the question
                if not self.fits.allows([by_id[m] for m in members]):
                    self._complain(f"matchmaker {self.rules.matchmaker} proposed a group the spec's rules refuse",
                                   ", ".join(members))  # fmt: skip
                    continue
                chosen = [self.waiting[m] for m in members]
                if seats is None:  # seats by the spec's `roles`: in order of arrival, or by lot in start_group
                    chosen.sort(key=lambda w: w.since_ns)
                self._start(chosen, by, seats)
            ready = [c for c in ready if c.participant in self.waiting]
        who = tuple(c.participant for c in ready)
        asked_who, asked_at = self._asked
        due = who != asked_who or time.monotonic() - asked_at >= ASK_EVERY_S
        if len(ready) >= self.size and due and (self._asking is None or self._asking.done()):
            self._asked = (who, time.monotonic())
            self._asking = asyncio.get_running_loop().create_task(self._ask(ready))

    async def _ask(self, ready: list[Candidate]) -> None:
        """Ask the researcher's matchmaker; its answer (or fifo's, when it fails) is applied at the next check."""
        assert self.custom is not None
        now = time.time_ns()
        measured = self.probes.measured if self.probes is not None else (lambda _: {})
        waiting = [describe(c, now, measured(c.participant)) for c in ready]
        try:
            answer = await self.custom.groups(waiting, self.size, list(self.scene.human_agents))
            groups = None if answer is None else read_groups(answer, [c.participant for c in ready], self.size,
                                                             self.scene.human_agents)  # fmt: skip
        except BadGroups as exc:
            self._complain(f"matchmaker {self.rules.matchmaker} answered wrong; groups formed by fifo", str(exc))
            groups = None
        except Exception as exc:  # the child could not even start: the room must still form groups
            log.exception("matchmaker %s could not be asked", self.rules.matchmaker)
            self._complain(f"matchmaker {self.rules.matchmaker} could not be asked; groups formed by fifo", repr(exc))
            groups = None
        if groups is None:  # fifo this time
            self._proposed = [[c.participant for c in g] for g in propose(ready, self.size, self.fits)], "fifo"
        else:
            self._proposed = groups, "custom"
        self._wake.set()

    def _complain(self, what: str, detail: str) -> None:
        """Log a researcher matchmaker's failure (and show it in the admin view), once a minute when it repeats."""
        text, at = self._complained
        if text != what + detail or time.monotonic() - at > 60:
            self._complained = (what + detail, time.monotonic())
            self.pod.error(what, detail)

    def _timed_out(self, waiter: Waiter) -> None:
        session = waiter.session
        if self.rules.on_wait_timeout == "fallback" and session.sid is not None:
            chosen = [waiter]
            if self.eligible(session):  # others who may be grouped with this one join this group
                me = self.candidate(waiter)
                others = [
                    self.candidate(w) for w in self.waiting.values() if w is not waiter and self.eligible(w.session)
                ]
                chosen = [self.waiting[c.participant] for c in fill_partly(me, others, self.size, self.fits)]
            self._start(chosen, "wait_timeout")
            return
        self._remove(waiter)
        waited = (time.time_ns() - waiter.since_ns) / 1e9
        self.pod.event(session, "wait_timeout", {"scene": self.key, "waited_s": round(waited, 3), "decision": "end"})
        self.pod.spawn(session.end_session("wait_timeout"))
        self.announce()

    def _remove(self, waiter: Waiter) -> None:
        participant = waiter.session.progress.participant
        del self.waiting[participant]
        if self.probes is not None:
            self.probes.forget(participant)

    def _start(self, chosen: list[Waiter], by: str, seats: list[str] | None = None) -> None:
        for waiter in chosen:
            self._remove(waiter)
        self.pod.start_group(self.key, self.scene, [(w.session, w.since_ns) for w in chosen], by, seats)
        self.announce()

    # probes ------------------------------------------------------------------------------

    def _tell(self, participant: str, event: str, payload: dict[str, Any]) -> None:
        waiter = self.waiting.get(participant)
        if waiter is not None:
            self.pod.spawn(waiter.session.emit(event, payload))

    def _record(self, participant: str, kind: str, detail: dict[str, Any]) -> None:
        waiter = self.waiting.get(participant)
        session = waiter.session if waiter is not None else self.pod.sessions.get(participant)
        if session is not None:
            self.pod.event(session, kind, {"scene": self.key} | detail)
        self._wake.set()  # a new measurement may make a group

    async def probe_signal(self, session: ParticipantSession, probe_id: str, description: Any) -> None:
        """A probe's WebRTC signalling, on to the other side (who the sender never learns)."""
        target = self.probes.signal_target(session.progress.participant, probe_id) if self.probes else None
        waiter = self.waiting.get(target) if target is not None else None
        if waiter is not None:
            await waiter.session.emit(Event.PROBE_SIGNAL, {"id": probe_id, "d": description})

    def probe_result(self, session: ParticipantSession, probe_id: str, report: Report) -> None:
        """One side of a probe measured its round trips (or found no path)."""
        if self.probes is not None:
            self.probes.report(session.progress.participant, probe_id, report)

    # the room ----------------------------------------------------------------------------

    def announce(self, force: bool = True) -> None:
        """Tell every waiting participant how many are here and how long the wait may last.

        A participant counts the others the rules may group them with (or that are still being measured).
        """
        now = time.monotonic()
        if not force and now - self._announced < ANNOUNCE_EVERY_S:
            return
        self._announced = now
        ready = [w for w in self.waiting.values() if self.eligible(w.session)]
        candidates = {id(w): self.candidate(w) for w in ready}
        for waiter in self.waiting.values():
            held_back = self.rules.max_latency_ms is not None and not self.eligible(waiter.session)
            me = candidates.get(id(waiter))
            fitting = [w for w in ready if w is not waiter and me is not None
                       and self.fits.fit(me, candidates[id(w)]) is not Fit.NO]  # fmt: skip
            payload = {
                "scene": self.key,
                "have": 1 if held_back else max(1, min(len(fitting) + 1, self.size - 1)),
                "size": self.size,
                "remaining": round(max(0.0, waiter.deadline - now), 1),
                "gate": "latency" if held_back else None,
            }
            self.pod.spawn(waiter.session.emit(Event.WAITING, payload))

    async def _watch(self) -> None:
        while self.waiting:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), CHECK_EVERY_S)
            self._wake.clear()
            try:
                self.check()
                self.announce(force=False)
            except Exception:
                log.exception("waiting room %s failed a check", self.key)

    async def close(self) -> None:
        """Stop watching (the pod is stopping) and the researcher's matchmaker."""
        for task in (self._task, self._asking):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self.custom is not None:
            await self.custom.close()
