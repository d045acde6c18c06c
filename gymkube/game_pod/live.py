"""What a game pod's load report adds for the researcher dashboard: waiting rooms, tick lateness, distributions.

The control plane reads `/load` every second (gymkube/platform/loads.py validates every field);
this part is small and bounded: at most `MAX_LOBBIES` waiting rooms, percentiles of the last ten
seconds of ticks, and the cumulative bucket counts of the pod's histograms (the control plane
sums them over pods for its plots).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from prometheus_client import Histogram

from gymkube.game_pod.metrics import BROWSER_FRAME_INTERVAL, INPUT_TO_STATE, TICK_LATENESS

if TYPE_CHECKING:
    from gymkube.game_pod.pod import Pod

MAX_LOBBIES = 50


def _percentile(ordered: list[int], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] / 1e6


def tick_lateness_ms(pod: Pod) -> dict[str, float] | None:
    """Median, 99th percentile and worst lateness of the recent ticks of every loop, in ms (None: no ticks)."""
    recent = sorted(late for watch in list(pod.metrics.ticks.values()) for late in list(watch.recent))
    if not recent:
        return None
    return {"p50": _percentile(recent, 0.5), "p99": _percentile(recent, 0.99), "max": recent[-1] / 1e6}


def cumulative(histogram: Histogram, experiment: str, pod: str) -> dict[str, list[float]]:
    """A histogram's bucket bounds and cumulative counts for this pod, summed over its other labels."""
    counts: dict[float, float] = {}
    for family in histogram.collect():
        for sample in family.samples:
            labels = sample.labels
            if sample.name.endswith("_bucket") and labels["experiment"] == experiment and labels["pod"] == pod:
                bound = float(labels["le"])
                counts[bound] = counts.get(bound, 0.0) + sample.value
    bounds = sorted(b for b in counts if b != float("inf"))
    return {"le": bounds, "counts": [counts[b] for b in bounds] + [counts.get(float("inf"), 0.0)]}


def lobbies(pod: Pod) -> list[dict[str, Any]]:
    """Each waiting room with someone in it: how many wait, for a group of how many, the longest wait so far."""
    now = time.time_ns()
    rooms = []
    for key, lobby in list(pod.lobbies.items())[:MAX_LOBBIES]:
        waiters = list(lobby.waiting.values())
        if waiters:
            longest = max((now - w.since_ns) / 1e9 for w in waiters)
            rooms.append({"scene": key, "waiting": len(waiters), "size": lobby.size, "longest_wait_s": longest})
    return rooms


def live_report(pod: Pod) -> dict[str, Any]:
    """The dashboard's part of the load report."""
    names = (pod.experiment.name, pod.name)
    return {
        "frames_sent": pod.metrics.frames_sent,
        "chunks_uploaded": pod.writer.chunks_uploaded,
        "lobbies": lobbies(pod),
        "tick_lateness_ms": tick_lateness_ms(pod),
        "histograms": {
            "tick_lateness_seconds": cumulative(TICK_LATENESS, *names),
            "input_to_state_seconds": cumulative(INPUT_TO_STATE, *names),
            "browser_frame_interval_seconds": cumulative(BROWSER_FRAME_INTERVAL, *names),
        },
    }
