"""The dashboard in one control plane replica: its index kept current, what its pages poll, cached briefly.

Pages poll at most once a second; whatever the number of researchers watching, each view of an
experiment is computed at most once per `LIVE_TTL_S` (plots every `PLOTS_TTL_S`), in a worker
thread, from the index and the pods' load reports this replica already reads every second.

The index reads an experiment's chunks when its writers say they stored new ones (the pods' load
reports count their uploads, and this replica's screening writer its own), and every `IDLE_TAIL_S`
anyway (chunks of a pod that died, or of another replica's screening): on S3 each pass is a LIST
request, and an idle study writes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from gymkube.game_pod.stager import build_flow
from gymkube.platform.dashboard import queries
from gymkube.platform.dashboard.auth import SignInLimiter, TokenCheck
from gymkube.platform.dashboard.index import Index
from gymkube.platform.dashboard.tail import Tailer
from gymkube.platform.plane import ControlPlane

log = logging.getLogger(__name__)

TAIL_EVERY_S = 1.0
IDLE_TAIL_S = 30.0
LIVE_TTL_S = 1.0
PLOTS_TTL_S = 5.0
MAX_CACHED = 1000
HISTOGRAMS = ("tick_lateness_seconds", "input_to_state_seconds", "browser_frame_interval_seconds")
T = TypeVar("T")


class Dashboard:
    """The index, the tailer feeding it, and short-lived answers shared by every viewer."""

    def __init__(self, plane: ControlPlane, path: Path | None) -> None:
        self.plane = plane
        self.index = Index(path)
        self.tailer = Tailer(self.index)
        self.limiter = SignInLimiter()
        self.tokens = TokenCheck(plane)
        self._cache: dict[tuple[str, ...], tuple[float, asyncio.Future[Any]]] = {}
        self._alive: dict[str, set[str]] = {}
        self._uploads: dict[str, tuple[int, ...]] = {}
        self._tailed_at: dict[str, float] = {}
        self._failing: dict[str, str] = {}
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start tailing the experiments' chunks."""
        self._task = asyncio.create_task(self._tail_forever(), name="dashboard-tail")

    async def close(self) -> None:
        """Stop tailing; close the index."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self.tailer.close()
        self.index.close()

    async def _tail_forever(self) -> None:
        while True:
            now = time.monotonic()
            for record in self.plane.runtime.records():
                name = record.name
                uploads = self._uploads_of(name)
                if uploads != self._uploads.get(name) or now - self._tailed_at.get(name, -IDLE_TAIL_S) >= IDLE_TAIL_S:
                    self._uploads[name], self._tailed_at[name] = uploads, now
                    await self.take_new(name)
            await asyncio.sleep(TAIL_EVERY_S)

    def _uploads_of(self, name: str) -> tuple[int, ...]:
        """How many chunks each writer of `name` has stored so far, as this replica last heard."""
        writer = self.plane.screening.get(name)
        counts = [
            int(self.plane.loads.get(p.name, {}).get("chunks_uploaded") or 0) for p in self.plane.runtime.pods(name)
        ]
        return (*counts, writer.chunks_uploaded if writer is not None else 0)

    async def take_new(self, name: str) -> None:
        """One pass of the tailer over an experiment, and the pods that stopped answering since the last one."""
        record = self.plane.runtime.get(name)
        if record is None:
            return
        try:
            await asyncio.to_thread(self.tailer.take_new, name, self.plane.data_storage(record))
            alive = {p.name for p in self.plane.runtime.pods(name) if self.plane.loads.get(p.name, {}).get("alive")}
            gone, self._alive[name] = self._alive.get(name, set()) - alive, alive
            if gone:
                await asyncio.to_thread(self.index.pods_gone, name, gone)
        except Exception as exc:  # storage unreachable: said once, tried again at the next pass
            if self._failing.get(name) != str(exc):
                log.warning("the dashboard cannot read the data of %s yet: %s", name, exc)
            self._failing[name] = str(exc)
        else:
            self._failing.pop(name, None)

    async def cached(self, key: tuple[str, ...], ttl_s: float, compute: Callable[[], T]) -> T:
        """`compute()` in a worker thread, shared by every caller within `ttl_s` (and while it runs)."""
        now = time.monotonic()
        hit = self._cache.get(key)
        if hit is not None and (now - hit[0] < ttl_s or not hit[1].done()):
            result: T = await asyncio.shield(hit[1])
            return result
        if len(self._cache) >= MAX_CACHED:  # searches make keys: keep only answers still being computed
            self._cache = {k: v for k, v in self._cache.items() if not v[1].done()}
        future: asyncio.Future[T] = asyncio.ensure_future(asyncio.to_thread(compute))
        self._cache[key] = (now, future)
        return await asyncio.shield(future)

    # views ---------------------------------------------------------------------------------

    async def live(self, name: str) -> dict[str, Any] | None:
        """Funnel, pods, waiting rooms and how current the index is; None for an unknown experiment.

        The funnel comes from the index (in a worker thread, shared for `LIVE_TTL_S`); the rest from
        what this replica holds in memory, read on the event loop that keeps it.
        """
        record = self.plane.runtime.get(name)
        if record is None:
            return None
        spec = record.experiment.spec
        flow = build_flow(spec, "funnel", 0)
        funnel = await self.cached(("funnel", name), LIVE_TTL_S, lambda: queries.funnel(self.index, name, flow))
        stats = self.plane.stats(name)
        reports = [self.plane.loads.get(p.name, {"pod": p.name}) for p in self.plane.runtime.pods(name)]
        tail = self.tailer.states.get(name)
        return {
            "experiment": name,
            "title": spec.title,
            "paused": record.paused,
            "url": f"{self.plane.settings.public_url.rstrip('/')}/x/{name}",
            "target": spec.target_participants,
            "endings": list(type(spec.endings).model_fields),
            "funnel": funnel,
            "live": {k: stats[k] for k in ("participants", "waiting", "games", "completed", "dropped")},
            "pods": [_pod_view(p, r) for p, r in zip(stats["pods"], reports, strict=True)],
            "lobbies": [
                room | {"pod": r.get("pod")} for r in reports if r.get("alive") for room in r.get("lobbies", [])
            ],
            "errors": stats["errors"],
            "index": {
                "behind": tail.behind if tail else 0,
                "updated": tail.last_pass if tail else None,
                "failing": self._failing.get(name),
            },  # fmt: skip
        }

    def histograms(self, name: str) -> dict[str, Any]:
        """The pods' histograms, summed over the live pods, as counts per bucket (not cumulative)."""
        summed: dict[str, dict[str, list[float]]] = {}
        for pod in self.plane.runtime.pods(name):
            report = self.plane.loads.get(pod.name, {})
            for kind, buckets in ((report.get("histograms") or {}) if report.get("alive") else {}).items():
                if buckets is None or kind not in HISTOGRAMS:
                    continue
                into = summed.setdefault(kind, {"le": buckets["le"], "counts": [0.0] * len(buckets["counts"])})
                if into["le"] == buckets["le"]:
                    into["counts"] = [a + b for a, b in zip(into["counts"], buckets["counts"], strict=True)]
        for buckets in summed.values():
            cumulative = buckets["counts"]
            buckets["counts"] = [c - (cumulative[i - 1] if i else 0) for i, c in enumerate(cumulative)]
        return summed

    def state_counts(self, name: str) -> dict[str, int]:
        """How many participants of `name` are in each state (for the metrics)."""
        rows = self.index.query("SELECT state, COUNT(*) FROM participants WHERE experiment = ? GROUP BY state", name)
        counts = dict(rows)
        return {state: counts.get(state, 0) for state in queries.STATES}

    def chunks_behind(self, name: str) -> int:
        """Chunks of `name` listed but not yet indexed."""
        state = self.tailer.states.get(name)
        return state.behind if state else 0


def _pod_view(stats: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    return stats | {
        "waiting": report.get("waiting"),
        "tick_lateness_ms": report.get("tick_lateness_ms"),
        "frames_sent": report.get("frames_sent"),
        "writer_error": report.get("writer_error"),
        "unhealthy": report.get("unhealthy"),
    }
