"""The game pod's metrics: observed once per tick, per browser report or per flush; its state read when scraped.

The tick loop and the frame fan-out are the pod's hot path: they only bump plain integers
(`PodMetrics.frames_sent`, the ticker's own counters) and observe one lateness per tick. What a
flush wrote (rows by table, input-to-state latencies from the step rows, p2p transports and
rollbacks from events and episodes) is counted from the flushed rows in a worker thread, once per
flush. Participants, games, waiting rooms and the writer's health are read from the live pods
when Prometheus scrapes.
"""

from __future__ import annotations

import weakref
from collections import deque
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from gymkube.metrics import (
    DURATION_BUCKETS,
    FRAME_INTERVAL_BUCKETS,
    LATENESS_BUCKETS,
    ScrapeTime,
    register_once,
)
from gymkube.storage.chunks import TABLES
from gymkube.storage.tables import json_column

if TYPE_CHECKING:
    from gymkube.game_pod.pod import Pod

POD = ("experiment", "pod")
TICK_LATENESS = Histogram(
    "gymkube_tick_lateness_seconds", "How long after its planned time each tick started.", [*POD, "fps"],
    buckets=LATENESS_BUCKETS,
)  # fmt: skip
INPUT_TO_STATE = Histogram(
    "gymkube_input_to_state_seconds", "From a key reaching the pod to the tick whose state shows it.", POD,
    buckets=LATENESS_BUCKETS,
)  # fmt: skip
BROWSER_FRAME_INTERVAL = Histogram(
    "gymkube_browser_frame_interval_seconds",
    "Mean time between the frames a browser drew, one observation per report (1 / its frame rate).", POD,
    buckets=FRAME_INTERVAL_BUCKETS,
)  # fmt: skip
FLUSH_DURATION = Histogram(
    "gymkube_flush_duration_seconds", "Encoding and spooling one chunk of rows.", POD, buckets=DURATION_BUCKETS
)
UPLOAD_DURATION = Histogram(
    "gymkube_upload_duration_seconds", "Uploading one spooled chunk to storage.", POD, buckets=DURATION_BUCKETS
)
ROWS_WRITTEN = Counter("gymkube_rows_written_total", "Rows written into chunks, by table.", [*POD, "table"])
STORAGE_FAILURES = Counter(
    "gymkube_storage_failures_total", "Spool writes and uploads that failed (retried; no row is lost).", [*POD, "stage"]
)
EVENTS_REFUSED = Counter(
    "gymkube_socket_events_refused_total", "Messages from pages that were not taken, by reason.", [*POD, "reason"]
)
CONNECTIONS_REFUSED = Counter(
    "gymkube_connections_refused_total", "Socket connections the pod refused, by reason.", [*POD, "reason"]
)
P2P_TRANSPORTS = Counter(
    "gymkube_p2p_transports_total", "Peer connections of p2p games by how they came up.", [*POD, "transport"]
)
P2P_ROLLBACKS = Counter("gymkube_p2p_rollbacks_total", "Rollbacks browsers reported at the end of p2p episodes.", POD)

REFUSAL_REASONS = frozenset({"rate_limited", "flood", "malformed", "over_budget", "unknown_event"})
CONNECTION_REASONS = frozenset({"expired", "token", "busy", "slow_down", "duplicate"})
TRANSPORTS = frozenset({"direct", "turn", "relay"})
RECENT_TICKS_S = 10
"""The load report's tick lateness covers about this many seconds of ticks."""

_pods: weakref.WeakSet[Pod] = weakref.WeakSet()


class TickWatch:
    """One tick loop's lateness: into the histogram, and a window of recent values for the load report."""

    def __init__(self, experiment: str, pod: str, fps: int) -> None:
        self._histogram = TICK_LATENESS.labels(experiment, pod, str(fps))
        self.recent: deque[int] = deque(maxlen=fps * RECENT_TICKS_S)

    def __call__(self, late_ns: int) -> None:
        """A tick started `late_ns` after its planned time."""
        self.recent.append(late_ns)
        self._histogram.observe(max(late_ns, 0) / 1e9)


class PodMetrics:
    """One game pod's metrics: counters bumped by the pod, and what its data writer reports (`WriterObserver`)."""

    def __init__(self, experiment: str, pod: str) -> None:
        self.labels = (experiment, pod)
        self.frames_sent = 0
        """State frames sent to participants (bumped once per game and tick, by the number of members reached)."""
        self.ticks: dict[int, TickWatch] = {}
        self._input_to_state = INPUT_TO_STATE.labels(*self.labels)
        self._frame_interval = BROWSER_FRAME_INTERVAL.labels(*self.labels)
        self._flush = FLUSH_DURATION.labels(*self.labels)
        self._upload = UPLOAD_DURATION.labels(*self.labels)
        self._rows = {table: ROWS_WRITTEN.labels(*self.labels, table) for table in TABLES}
        self._recv_columns: dict[Any, tuple[str, ...]] = {}

    def tick_watch(self, fps: int) -> TickWatch:
        """The lateness observer of the tick loop at `fps`."""
        return self.ticks.setdefault(fps, TickWatch(*self.labels, fps))

    def refused(self, kind: str) -> None:
        """A message from a page was not taken; `kind` is a reason or `malformed:<event>`-style (prefix counted)."""
        reason = kind.partition(":")[0]
        EVENTS_REFUSED.labels(*self.labels, reason if reason in REFUSAL_REASONS else "other").inc()

    def connection_refused(self, reason: str) -> None:
        """A socket connection was refused (`expired`, `token`, `busy`, `slow_down`, `duplicate`)."""
        CONNECTIONS_REFUSED.labels(*self.labels, reason if reason in CONNECTION_REASONS else "other").inc()

    def frames_drawn(self, times_ms: list[float]) -> None:
        """A browser's report of when it drew frames: one observation of their mean interval."""
        if len(times_ms) >= 2:
            interval = (times_ms[-1] - times_ms[0]) / (len(times_ms) - 1) / 1000
            if 0 < interval < 60:  # a page's clock is its own: ignore what no browser draws
                self._frame_interval.observe(interval)

    # the data writer's observer (gymkube/storage/chunks.py WriterObserver) ----------------

    def flushed(self, rows: dict[str, list[dict[str, Any]]], seconds: float) -> None:
        """Rows are in a chunk now (run in a worker thread, once per flush)."""
        self._flush.observe(seconds)
        for table, table_rows in rows.items():
            if table_rows and table in self._rows:
                self._rows[table].inc(len(table_rows))
        self._count_inputs(rows.get("steps", ()))
        self._count_p2p(rows.get("events", ()), rows.get("episodes", ()))

    def uploaded(self, seconds: float) -> None:
        """One spooled chunk reached storage."""
        self._upload.observe(seconds)

    def failed(self, stage: str) -> None:
        """Writing the spool (`spool`) or uploading a chunk (`upload`) failed."""
        STORAGE_FAILURES.labels(*self.labels, stage).inc()

    def _count_inputs(self, steps: Iterable[dict[str, Any]]) -> None:
        """Input-to-state latency of every input a step consumed (server mode: `input_recv_ns_<agent>`)."""
        columns = self._recv_columns
        if len(columns) > 10_000:
            columns.clear()
        observe = self._input_to_state.observe
        for row in steps:
            game = row.get("game")
            recv = columns.get(game)
            if recv is None:
                recv = columns[game] = tuple(k for k in row if k.startswith("input_recv_ns_"))
            for column in recv:
                received = row.get(column)
                if received is not None:
                    observe(max(0, row["t_tick_ns"] - received) / 1e9)

    def _count_p2p(self, events: Iterable[dict[str, Any]], episodes: Iterable[dict[str, Any]]) -> None:
        for event in events:
            if event.get("kind") == "p2p_transport":
                via = json_column(event.get("detail")).get("via")
                P2P_TRANSPORTS.labels(*self.labels, via if via in TRANSPORTS else "other").inc()
        for episode in episodes:
            if episode.get("mode") == "p2p":
                counts = [p.get("rollbacks") for p in json_column(episode.get("p2p")).values() if isinstance(p, dict)]
                rollbacks = sum(n for n in counts if type(n) is int and 0 < n < 10**7)  # what a browser said
                if rollbacks:
                    P2P_ROLLBACKS.labels(*self.labels).inc(rollbacks)


def watch(pod: Pod) -> None:
    """Report this pod's state when Prometheus scrapes (pods in memory are watched; gone ones drop out)."""
    _pods.add(pod)


def _pod_state() -> Iterator[Metric]:
    """Participants, games, ticks, frames and the writer of every watched pod, read now."""
    families: dict[str, GaugeMetricFamily | CounterMetricFamily] = {
        "participants": GaugeMetricFamily("gymkube_participants", "Participants on the pod, by state.",
                                          labels=[*POD, "state"]),
        "capacity": GaugeMetricFamily("gymkube_capacity", "Participants the pod admits at once.", labels=POD),
        "draining": GaugeMetricFamily("gymkube_draining", "1 while the pod takes no one new.", labels=POD),
        "games": GaugeMetricFamily("gymkube_games", "Games running on the pod, by mode.", labels=[*POD, "mode"]),
        "completed": CounterMetricFamily("gymkube_participants_completed", "Participants who reached the end scene.",
                                         labels=POD),
        "dropped": CounterMetricFamily("gymkube_participants_dropped", "Participants who did not come back in time.",
                                       labels=POD),
        "ticks": CounterMetricFamily("gymkube_ticks", "Ticks run, by frame rate.", labels=[*POD, "fps"]),
        "overruns": CounterMetricFamily("gymkube_tick_overruns", "Times a tick loop fell behind and re-planned.",
                                        labels=[*POD, "fps"]),
        "frames": CounterMetricFamily("gymkube_frames_sent", "State frames sent to participants.", labels=POD),
        "spooled": GaugeMetricFamily("gymkube_spooled_chunks", "Chunks on local disk not yet in storage.", labels=POD),
        "pending": GaugeMetricFamily("gymkube_rows_pending", "Rows in memory not yet in a chunk.", labels=POD),
        "uploaded": CounterMetricFamily("gymkube_chunks_uploaded", "Chunks that reached storage.", labels=POD),
        "ready": GaugeMetricFamily("gymkube_writer_ready", "1 while the data writer writes.", labels=POD),
        "restarts": CounterMetricFamily("gymkube_writer_restarts", "Times the data writer's loop died and restarted.",
                                        labels=POD),
        "quarantined": CounterMetricFamily("gymkube_rows_quarantined", "Rows the writer could not encode.",
                                           labels=POD),
    }  # fmt: skip
    f = families
    for pod in list(_pods):
        labels = [pod.experiment.name, pod.name]
        load = pod.load()
        for state, value in (("here", load["participants"]), ("connected", load["connected"]),
                             ("waiting", load["waiting"]), ("in_memory", load["in_memory"])):  # fmt: skip
            f["participants"].add_metric([*labels, state], value)
        f["capacity"].add_metric(labels, load["capacity"])
        f["draining"].add_metric(labels, int(load["draining"]))
        modes = {"server": sum(len(t.games) for t in pod.tickers.values()), "client": 0, "p2p": 0}
        for game in list(pod.remote_games.values()):
            modes[game.scene.mode] = modes.get(game.scene.mode, 0) + 1
        for mode, count in modes.items():
            f["games"].add_metric([*labels, mode], count)
        f["completed"].add_metric(labels, pod.completed)
        f["dropped"].add_metric(labels, pod.dropped)
        for fps, ticker in list(pod.tickers.items()):
            f["ticks"].add_metric([*labels, str(fps)], ticker.ticks)
            f["overruns"].add_metric([*labels, str(fps)], ticker.overruns)
        f["frames"].add_metric(labels, pod.metrics.frames_sent)
        writer = pod.writer
        f["spooled"].add_metric(labels, load["spooled_chunks"])
        f["pending"].add_metric(labels, writer.pending_rows)
        f["uploaded"].add_metric(labels, writer.chunks_uploaded)
        f["ready"].add_metric(labels, int(writer.ready))
        f["restarts"].add_metric(labels, writer.restarts)
        f["quarantined"].add_metric(labels, writer.rows_quarantined)
    return iter(families.values())


register_once("game-pod", ScrapeTime(_pod_state))
