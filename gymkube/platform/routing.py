"""Participant routing: sticky per participant, else the least-loaded live pod; all in memory."""

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
    pods: dict[str, PodInfo] = field(default_factory=dict)
    assigned: dict[str, str] = field(default_factory=dict)

    def sync(self, endpoints: list[PodEndpoint], capacity: int) -> None:
        """Take the runtime's current pods: new ones join, gone ones leave (and their
        participants are re-routed on their next visit)."""
        self.capacity = capacity
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
        best: PodInfo | None = None
        best_free = 0
        for pod in self.pods.values():
            if pod.alive and not pod.draining and (free := pod.free) > best_free:
                best, best_free = pod, free
        if best is None:
            return None
        best.pending.append(time.monotonic())
        self.assigned[participant] = best.name
        return best

    def knows(self, participant: str) -> bool:
        """Whether this participant was routed before (returning participants skip pauses)."""
        return participant in self.assigned

    def report(self, name: str, participants: int, draining: bool) -> None:
        """A pod's load report."""
        pod = self.pods.get(name)
        if pod is not None:
            pod.participants, pod.draining, pod.alive = participants, draining, True

    def mark_dead(self, name: str) -> None:
        """A pod stopped answering; its participants go elsewhere on their next visit."""
        if name in self.pods:
            self.pods[name].alive = False
