"""Participant routing: sticky per participant, else the least-loaded live pod; all in memory.

Experiments played in groups route arrivals in blocks of the group size: the next arrival
goes to the pod whose block is still open (so a group's members reach one pod's waiting room),
then to a pod that reports fewer ungrouped participants than whole groups need, and only then
to the least-loaded pod. Groups form on the pod, so a group is never split across pods.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field

from gymkube.platform.runtime.base import PodEndpoint

PENDING_S = 5.0
"""How long a routed participant counts against a pod before its load report includes them."""


@dataclass
class PodInfo:
    """A game pod as the router knows it: where it is, its last reported load, recent arrivals."""

    name: str
    url: str
    capacity: int
    participants: int = 0
    alive: bool = True
    draining: bool = False
    pending: deque[float] = field(default_factory=deque)
    ungrouped: int = 0  # reported: participants on the pod still to be grouped
    block: int = 0  # arrivals routed here into the open block (0: no open block)

    @property
    def free(self) -> int:
        """Places left: capacity less reported participants and those sent here lately."""
        horizon = time.monotonic() - PENDING_S
        while self.pending and self.pending[0] < horizon:
            self.pending.popleft()
        return self.capacity - self.participants - len(self.pending)


@dataclass
class Router:
    """Routes the participants of one experiment to its pods without calling any pod."""

    capacity: int
    group_size: int = 1
    pods: dict[str, PodInfo] = field(default_factory=dict)
    assigned: dict[str, str] = field(default_factory=dict)

    def sync(self, endpoints: list[PodEndpoint], capacity: int, group_size: int = 1) -> None:
        """Take the runtime's current pods: new ones join, gone ones leave (and their
        participants are re-routed on their next visit)."""
        self.capacity, self.group_size = capacity, group_size
        current = {e.name for e in endpoints}
        for name in list(self.pods):
            if name not in current:
                del self.pods[name]
        for endpoint in endpoints:
            pod = self.pods.setdefault(endpoint.name, PodInfo(endpoint.name, endpoint.url, capacity))
            pod.url, pod.capacity = endpoint.url, capacity

    def route(self, participant: str) -> PodInfo | None:
        """The pod for this participant, or None when every live pod is full.

        A returning participant goes back to their pod while it lives; others go to the
        pod with the most free places. The choice counts against that pod's load at once and
        for a few seconds, so a burst of arrivals spreads evenly before the pods report them.
        """
        current = self.pods.get(self.assigned.get(participant, ""))
        if current is not None and current.alive:
            return current
        live = [p for p in self.pods.values() if p.alive and not p.draining]
        best = self._group_pod(live) if self.group_size > 1 else None
        if best is None:
            # A new block (a new group) only where the whole group fits: an arrival that could only
            # wait alone is better told the study is full.
            best = max((p for p in live if p.free >= self.group_size), key=lambda p: p.free, default=None)
            if best is None:
                return None
            best.block = 0
        best.pending.append(time.monotonic())
        best.block = (best.block + 1) % self.group_size
        self.assigned[participant] = best.name
        return best

    def _group_pod(self, pods: list[PodInfo]) -> PodInfo | None:
        """A pod with an open block; else one whose waiting rooms are short (its report is up to date)."""
        open_blocks = [p for p in pods if p.block > 0]  # its seats were counted when the block opened
        if open_blocks:
            return max(open_blocks, key=lambda p: p.block)
        short = self.group_size
        settled = [p for p in pods if not p.pending and p.ungrouped % short and p.free >= short - p.ungrouped % short]
        if settled:
            best = max(settled, key=lambda p: p.ungrouped % self.group_size)
            best.block = best.ungrouped % self.group_size
            return best
        return None

    def knows(self, participant: str) -> bool:
        """Whether this participant was routed before (returning participants skip pauses)."""
        return participant in self.assigned

    def report(self, name: str, participants: int, draining: bool, ungrouped: int = 0) -> None:
        """A pod's load report."""
        pod = self.pods.get(name)
        if pod is not None:
            pod.participants, pod.draining, pod.alive, pod.ungrouped = participants, draining, True, ungrouped
            if draining:
                pod.block = 0

    def mark_dead(self, name: str) -> None:
        """A pod stopped answering; its participants go elsewhere on their next visit."""
        if name in self.pods:
            self.pods[name].alive, self.pods[name].block = False, 0
