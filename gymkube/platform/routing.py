"""Participant routing: sticky per participant, else the least-loaded live pod; all in memory."""

from __future__ import annotations

from dataclasses import dataclass, field

from gymkube.platform.runtime.base import PodEndpoint


@dataclass
class PodInfo:
    """A game pod as the router knows it: where it is and its last reported load."""

    name: str
    url: str
    capacity: int
    participants: int = 0
    alive: bool = True
    draining: bool = False

    @property
    def free(self) -> int:
        """Participants it can still take."""
        return self.capacity - self.participants


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
        pod with the most free places. The choice counts against that pod's load at once, so
        a burst of arrivals spreads before the next load report.
        """
        current = self.pods.get(self.assigned.get(participant, ""))
        if current is not None and current.alive:
            return current
        best: PodInfo | None = None
        for pod in self.pods.values():
            if pod.alive and not pod.draining and pod.free > 0 and (best is None or pod.free > best.free):
                best = pod
        if best is None:
            return None
        best.participants += 1
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
