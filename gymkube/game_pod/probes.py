"""Peer probing: participants waiting for a p2p game measure their browser-to-browser round trips over WebRTC.

What decides a p2p game's feel is the round trip between the two browsers, which can be far larger or
smaller than either's trip to the pod. So the waiting room of a p2p scene with `group.maxPeerRttMs`
(or a matchmaker other than fifo) asks pairs of waiting browsers to open a short WebRTC connection to
each other, signalled through the pod and through TURN when no direct path exists, exactly as the game
will, and to measure `PROBE_SAMPLES` round trips over its DataChannel (gymkube/static/js/probe.js).
Each side reports the median it measured; the pair's round trip is the larger of the two reports (a
page that reports too low a figure cannot make a slow pair look fast), and a pair that did not report
within `PROBE_TIMEOUT_S` has no path. Every finished probe is an event of both participants
(`peer_probe`: the other participant, transport, round trip, samples and outcome).

The work is bounded: a browser runs at most `PROBES_AT_ONCE` probes at a time and takes part in at
most `MAX_PROBES_PER_WAIT` per wait; pairs are probed earliest arrivals first, only pairs the other
rules allow, and a result is kept for `FRESH_S`. A browser never learns who it probes (the probe id
is random).
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from gymkube.game_pod.protocol import Event

PROBES_AT_ONCE = 2
"""Probes one browser runs at a time (each is a WebRTC connection with its own ICE gathering)."""
PROBE_TIMEOUT_S = 10.0
"""A probe's connection (through TURN when needed) and its round trips must be done within this."""
PROBE_SAMPLES, PROBE_EVERY_MS = 5, 150
MAX_PROBES_PER_WAIT = 24
"""Probes one participant takes part in per wait: in a big room each probes the earliest arrivals first."""
FRESH_S = 300.0
"""How long a measured round trip counts (connections change)."""


@dataclass(frozen=True)
class Report:
    """What one side of a probe measured."""

    rtt_ms: float | None
    samples: int
    via: str | None


@dataclass(frozen=True)
class PeerRtt:
    """A pair's measured round trip (None: no path came up, or a side did not report) and how they were connected."""

    rtt_ms: float | None
    via: str | None
    at: float


@dataclass
class Probe:
    """One probe in flight between two waiting participants."""

    id: str
    sides: tuple[str, str]  # (offerer: the earlier arrival, answerer)
    deadline: float
    reports: dict[str, Report] = field(default_factory=dict)

    def other(self, participant: str) -> str:
        """The side that is not `participant`."""
        return self.sides[1] if participant == self.sides[0] else self.sides[0]


def _pair(a: str, b: str) -> frozenset[str]:
    return frozenset((a, b))


class PeerProbes:
    """The probes of one waiting room: which pairs to measure next, the messages of those in flight, the results."""

    def __init__(
        self,
        limit_ms: int | None,
        tell: Callable[[str, str, dict[str, Any]], None],
        record: Callable[[str, str, dict[str, Any]], None],
    ) -> None:
        self.limit_ms = limit_ms
        self.tell = tell  # (participant, event, payload): a message to that participant's page
        self.record = record  # (participant, kind, detail): an events-table row of theirs
        self.results: dict[frozenset[str], PeerRtt] = {}
        self.live: dict[str, Probe] = {}
        self.taken: Counter[str] = Counter()

    def rtt(self, a: str, b: str) -> float | None | bool:
        """The pair's round trip in ms; None while unmeasured (or being measured); False when no path came up."""
        result = self.results.get(_pair(a, b))
        if result is None or time.monotonic() - result.at > FRESH_S:
            return None
        return False if result.rtt_ms is None else result.rtt_ms

    def measured(self, participant: str) -> dict[str, float]:
        """The fresh round trips of one participant to others, by participant."""
        now = time.monotonic()
        return {
            next(iter(pair - {participant})): result.rtt_ms
            for pair, result in self.results.items()
            if participant in pair and result.rtt_ms is not None and now - result.at <= FRESH_S
        }

    def plan(self, order: Sequence[str], worth: Callable[[str, str], bool]) -> None:
        """Start the probes to run now: pairs of `order` (earliest arrival first) not measured, that `worth` allows."""
        now = time.monotonic()
        for probe in [p for p in self.live.values() if p.deadline <= now]:
            self._finish(probe)
        busy: Counter[str] = Counter(side for probe in self.live.values() for side in probe.sides)
        in_flight = {_pair(*probe.sides) for probe in self.live.values()}
        for index, a in enumerate(order):
            for b in order[index + 1 :]:
                if busy[a] >= PROBES_AT_ONCE or self.taken[a] >= MAX_PROBES_PER_WAIT:
                    break
                if busy[b] >= PROBES_AT_ONCE or self.taken[b] >= MAX_PROBES_PER_WAIT:
                    continue
                if _pair(a, b) in in_flight or self.rtt(a, b) is not None or not worth(a, b):
                    continue
                self._start(a, b, now)
                busy.update((a, b))

    def _start(self, offerer: str, answerer: str, now: float) -> None:
        probe = Probe(uuid.uuid4().hex[:16], (offerer, answerer), now + PROBE_TIMEOUT_S)
        self.live[probe.id] = probe
        self.taken.update(probe.sides)
        settings = {"id": probe.id, "samples": PROBE_SAMPLES, "everyMs": PROBE_EVERY_MS,
                    "timeoutMs": int(PROBE_TIMEOUT_S * 1000) - 500}  # fmt: skip
        self.tell(offerer, Event.PROBE, settings | {"role": "offer"})
        self.tell(answerer, Event.PROBE, settings | {"role": "answer"})

    def signal_target(self, sender: str, probe_id: str) -> str | None:
        """Who a probe's signalling message from `sender` is for (None: not a probe of theirs in flight)."""
        probe = self.live.get(probe_id)
        return probe.other(sender) if probe is not None and sender in probe.sides else None

    def report(self, sender: str, probe_id: str, report: Report) -> None:
        """One side's measurement; the probe is over once both sides reported."""
        probe = self.live.get(probe_id)
        if probe is None or sender not in probe.sides or sender in probe.reports:
            return
        probe.reports[sender] = report
        if len(probe.reports) == 2:
            self._finish(probe)

    def forget(self, participant: str) -> None:
        """A participant left the room (grouped, gone): their probes stop; what was measured stays."""
        for probe in [p for p in self.live.values() if participant in p.sides]:
            self._finish(probe, stop=probe.other(participant))
        self.taken.pop(participant, None)

    def _finish(self, probe: Probe, stop: str | None = None) -> None:
        del self.live[probe.id]
        reports = [probe.reports.get(side) for side in probe.sides]
        complete = all(r is not None and r.rtt_ms is not None for r in reports)
        rtt = max(r.rtt_ms for r in reports if r is not None and r.rtt_ms is not None) if complete else None
        vias = {r.via for r in reports if r is not None and r.via}
        via = "turn" if "turn" in vias else ("direct" if vias else None)
        if stop is None:
            self.results[_pair(*probe.sides)] = PeerRtt(rtt, via, time.monotonic())
            for side in probe.sides:
                if side not in probe.reports:
                    self.tell(side, Event.PROBE, {"id": probe.id, "stop": True})
        else:
            self.tell(stop, Event.PROBE, {"id": probe.id, "stop": True})
        if rtt is None:
            outcome = "stopped" if stop is not None else ("no_path" if len(probe.reports) == 2 else "no_report")
        else:
            outcome = "over_limit" if self.limit_ms is not None and rtt >= self.limit_ms else "ok"
        for side, mine in zip(probe.sides, reports, strict=True):
            theirs = probe.reports.get(probe.other(side))
            self.record(side, "peer_probe", {
                "probe": probe.id, "peer": probe.other(side), "transport": via, "rtt_ms": rtt, "outcome": outcome,
                "samples": mine.samples if mine else 0, "limit_ms": self.limit_ms,
                "reported_ms": {"self": mine.rtt_ms if mine else None, "peer": theirs.rtt_ms if theirs else None},
            })  # fmt: skip
