"""Participant routing: sticky per participant, else the least-loaded live pod; all in memory."""

from __future__ import annotations

from dataclasses import dataclass, field


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

    pods: dict[str, PodInfo] = field(default_factory=dict)
    assigned: dict[str, str] = field(default_factory=dict)

    def route(self, participant: str) -> PodInfo | None:
        """The pod for this participant, or None when every live pod is full.

        A returning participant goes back to their pod while it lives; others go to the
        pod with the most free places. The choice counts against that pod's load at once, so
        a burst of arrivals spreads before the next load report.
        """
        current = self.pods.get(self.assigned.get(participant, ""))
        if current is not None and current.alive:
            return current
        candidates = [p for p in self.pods.values() if p.alive and not p.draining and p.free > 0]
        if not candidates:
            return None
        pod = max(candidates, key=lambda p: (p.free, p.name))
        pod.participants += 1
        self.assigned[participant] = pod.name
        return pod

    def report(self, name: str, participants: int, draining: bool) -> None:
        """A pod's load report."""
        pod = self.pods.get(name)
        if pod is not None:
            pod.participants, pod.draining, pod.alive = participants, draining, True

    def mark_dead(self, name: str) -> None:
        """A pod stopped answering; its participants will be re-routed on their next visit."""
        if name in self.pods:
            self.pods[name].alive = False
