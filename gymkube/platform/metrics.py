"""The control plane's metrics: entries and routing decisions as they happen; studies and pods when scraped.

Labels are bounded: `experiment` only for experiments the runtime knows (an entry for an unknown
name is counted under ""), outcomes from fixed sets, never a participant.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from starlette.responses import Response

from gymkube.metrics import ScrapeTime, register_once

if TYPE_CHECKING:
    from gymkube.platform.dashboard.service import Dashboard
    from gymkube.platform.plane import ControlPlane

ENTRIES = Counter("gymkube_entries_total", "Participant entries (`/x/NAME`), by outcome.", ["experiment", "outcome"])
ROUTING = Counter(
    "gymkube_routing_decisions_total",
    "Routing decisions: `returning` to their pod, `new` to the least-loaded pod, `full` when no pod had room.",
    ["experiment", "outcome"],
)
POD_REPORTS = Counter(
    "gymkube_pod_reports_total", "Game pods' load reports read, by outcome (ok, bad, unreachable).",
    ["experiment", "outcome"],
)  # fmt: skip
DASHBOARD_LOGINS = Counter("gymkube_dashboard_logins_total", "Dashboard sign-ins, by outcome.", ["outcome"])
DASHBOARD_ACTIONS = Counter(
    "gymkube_dashboard_actions_total", "Actions taken in the dashboard, by kind and outcome.", ["action", "outcome"]
)
ENTRY_OUTCOMES = {303: "routed", 200: "measuring", 400: "bad_link", 403: "screened_out", 404: "unknown_experiment",
                  409: "other_participant", 410: "closed", 429: "rate_limited"}  # fmt: skip
"""The entry's answer, by status; 503 is `paused` or `full`, told apart by the experiment's flag."""

_watched: weakref.WeakSet[Dashboard] = weakref.WeakSet()


def count_entry(plane: ControlPlane, name: str, response: Response) -> Response:
    """Count one entry by what it answered; the response passes through."""
    record = plane.runtime.get(name)
    if response.status_code == 503:
        outcome = "paused" if record is not None and record.paused else "full"
    else:
        outcome = ENTRY_OUTCOMES.get(response.status_code, "other")
    ENTRIES.labels(name if record is not None else "", outcome).inc()
    return response


def count_route(name: str, routed: bool, returning: bool) -> None:
    """Count one routing decision."""
    ROUTING.labels(name, "full" if not routed else "returning" if returning else "new").inc()


def watch(dashboard: Dashboard) -> None:
    """Report the studies this control plane serves when Prometheus scrapes."""
    _watched.add(dashboard)


def _studies() -> Iterator[Metric]:
    """Participants by state (the index: whole study; the pods: here now), game pods by state, index lag."""
    participants = GaugeMetricFamily(
        "gymkube_study_participants", "Participants of each study, by where they are (from the data).",
        labels=["experiment", "state"],
    )  # fmt: skip
    live = GaugeMetricFamily(
        "gymkube_live_participants", "Participants on the game pods now, by state (from their load reports).",
        labels=["experiment", "state"],
    )  # fmt: skip
    pods = GaugeMetricFamily("gymkube_game_pods", "Game pods, by state.", labels=["experiment", "state"])
    paused = GaugeMetricFamily("gymkube_experiment_paused", "1 while the study is paused.", labels=["experiment"])
    lag = GaugeMetricFamily(
        "gymkube_dashboard_chunks_behind", "Data chunks listed but not yet in this replica's dashboard index.",
        labels=["experiment"],
    )  # fmt: skip
    for dashboard in list(_watched):
        plane = dashboard.plane
        for record in plane.runtime.records():
            name = record.name
            paused.add_metric([name], int(record.paused))
            for state, count in dashboard.state_counts(name).items():
                participants.add_metric([name, state], count)
            reports = [plane.loads.get(p.name, {}) for p in plane.runtime.pods(name)]
            up = [r for r in reports if r.get("alive")]
            for state in ("participants", "waiting", "games"):
                live.add_metric([name, "here" if state == "participants" else state],
                                sum(int(r.get(state) or 0) for r in up))  # fmt: skip
            draining = sum(1 for r in up if r.get("draining"))
            for state, count in (("up", len(up) - draining), ("draining", draining), ("down", len(reports) - len(up))):
                pods.add_metric([name, state], count)
            lag.add_metric([name], dashboard.chunks_behind(name))
    yield from (participants, live, pods, paused, lag)


register_once("control-plane", ScrapeTime(_studies))
