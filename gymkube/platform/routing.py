"""Participant routing, the same on every control plane replica: no decision depends on this process's memory.

- Returning participants go back to their pod: the pod is named in their signed entry cookie
  (`entry.py`), not in a table here, so any replica sends them back and a restart forgets nothing.
- Solo experiments: the live pod with the most free places, counting this replica's recent arrivals
  (`pending`) until the pod's load report includes them.
- Group experiments: an arrival completes a forming group first, the first such pod by name on
  every replica, so members who arrive through different replicas meet in one waiting room; with
  no group forming it opens one on the least-loaded pod with room for the whole group. Groups form
  on the pod, never across pods.

Nothing grows with the number of participants: a pod keeps at most `capacity` pending arrivals,
each until the pod reports it connected (by arrival number) or for `PENDING_S`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from gymkube.platform.runtime.base import PodEndpoint

PENDING_S = 10.0
"""How long a routed participant who has not connected (yet) counts against a pod."""


@dataclass
class PodInfo:
    """A game pod as the router knows it: where it is, its last reported load, arrivals not yet in it."""

    name: str
    url: str
    capacity: int
    participants: int = 0
    alive: bool = True
    draining: bool = False
    pending: dict[int, float] = field(default_factory=dict)
    """This replica's arrivals sent here (by arrival number) that the pod has not reported connected yet."""
    ungrouped: int = 0  # reported: participants on the pod still to be grouped

    def _expire(self) -> None:
        horizon = time.monotonic() - PENDING_S
        for arrival in [a for a, since in self.pending.items() if since < horizon]:
            del self.pending[arrival]

    @property
    def free(self) -> int:
        """Places left: capacity less reported participants and arrivals on their way here."""
        self._expire()
        return self.capacity - self.participants - len(self.pending)

    @property
    def forming(self) -> int:
        """Members of the group forming here: the reported ungrouped ones and arrivals on their way here."""
        self._expire()
        return self.ungrouped + len(self.pending)

    def reserve(self, arrival: int) -> None:
        """Count one arrival against this pod until the pod reports it connected (at most `capacity` are kept)."""
        self._expire()
        if len(self.pending) < max(self.capacity, 1):
            self.pending[arrival] = time.monotonic()


@dataclass
class Router:
    """Routes the participants of one experiment to its pods without calling any pod."""

    capacity: int
    group_size: int = 1
    pods: dict[str, PodInfo] = field(default_factory=dict)

    def sync(self, endpoints: list[PodEndpoint], capacity: int, group_size: int = 1) -> None:
        """Take the runtime's current pods: new ones join, gone ones leave (and their
        participants are routed again on their next visit)."""
        self.capacity, self.group_size = capacity, group_size
        current = {e.name for e in endpoints}
        for name in list(self.pods):
            if name not in current:
                del self.pods[name]
        for endpoint in endpoints:
            pod = self.pods.setdefault(endpoint.name, PodInfo(endpoint.name, endpoint.url, capacity))
            pod.url, pod.capacity = endpoint.url, capacity

    def route(self, arrival: int, sticky: str | None = None) -> PodInfo | None:
        """The pod for an arrival (its arrival number), or None when every live pod is full.

        `sticky`: the pod a returning participant's cookie names; they go back there while it lives
        (draining or not: a game they left may be waiting for them). Anyone else is placed as the
        module docstring says, and counts against that pod until the pod reports them connected.
        """
        current = self.pods.get(sticky or "")
        if current is not None and current.alive:
            return current
        live = sorted((p for p in self.pods.values() if p.alive and not p.draining), key=lambda p: p.name)
        if self.group_size > 1:
            best = self._group_pod(live)
        else:
            best = max((p for p in live if p.free >= 1), key=lambda p: p.free, default=None)
        if best is not None:
            best.reserve(arrival)
        return best

    def _group_pod(self, pods: list[PodInfo]) -> PodInfo | None:
        """The first pod (by name) where a forming group fits, else the least-loaded one with room for a whole group.

        Forming groups are completed in one order on every replica, so members who arrive through
        different replicas meet; new groups spread over the pods. An arrival that could only wait
        alone is better told the study is full.
        """
        size = self.group_size
        for pod in pods:
            missing = -pod.forming % size  # members the group forming here still needs
            if 0 < missing <= pod.free:
                return pod
        return max((p for p in pods if p.free >= size), key=lambda p: p.free, default=None)

    def report(
        self, name: str, participants: int, draining: bool, ungrouped: int = 0, arrived: Iterable[int] = ()
    ) -> None:
        """A pod's load report; `arrived` are the arrival numbers it saw connect lately (counted in `participants`)."""
        pod = self.pods.get(name)
        if pod is not None:
            pod.participants, pod.draining, pod.alive, pod.ungrouped = participants, draining, True, ungrouped
            for arrival in arrived:
                pod.pending.pop(arrival, None)

    def mark_dead(self, name: str) -> None:
        """A pod stopped answering (or answered badly); its participants go elsewhere on their next visit."""
        if name in self.pods:
            self.pods[name].alive = False
