"""Prometheus metrics shared by the game pod, the control plane and the operator: buckets, exposition, a server.

Every part registers its metrics in prometheus-client's default registry (which also carries the
process and Python collectors), labelled by experiment and pod where that applies, never by
participant. Names follow Prometheus' conventions: `gymkube_<thing>_total` for counters,
`_seconds` for durations. Hot paths only bump plain integers or observe once per tick or per
flush; gauges of the pod's state are read when Prometheus scrapes (see `ScrapeTime`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest, start_http_server
from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response

log = logging.getLogger(__name__)

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Flushes, uploads, reconciles: milliseconds when all is well, seconds when storage or the API is slow."""
LATENESS_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.0333, 0.05, 0.1, 0.25, 0.5, 1.0)
"""Tick lateness and input-to-state latency: a frame at 30 fps is 33 ms."""
FRAME_INTERVAL_BUCKETS = (1 / 120, 1 / 60, 1 / 50, 1 / 40, 1 / 30, 1 / 25, 1 / 20, 1 / 15, 1 / 10, 1 / 5, 1.0)
"""Time between frames a browser drew (the inverse of its frame rate: 120, 60, 50 ... 1 fps)."""


async def metrics_endpoint(request: Request) -> Response:
    """`/metrics`: this process's metrics in Prometheus' text format.

    Async on purpose: the scrape-time collectors read live objects (a pod's sessions, the control
    plane's load reports) on the event loop that changes them, never from another thread.
    """
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def serve_metrics(port: int, host: str = "0.0.0.0") -> Callable[[], None]:
    """Serve `/metrics` on a port of its own from a thread (prometheus-client's server); returns its stop.

    For processes whose scrape-time collectors only take atomic reads (whole lists and dicts the event
    loop replaces rather than changes): the control plane on a cluster, and the operator.
    """
    server, _thread = start_http_server(port, addr=host)
    log.info("Prometheus metrics on http://%s:%d/metrics", host, port)

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return stop


class ScrapeTime(Collector):
    """A collector whose metrics are computed from live objects when Prometheus scrapes, not on every change.

    `source` returns the metric families; a failure is logged and yields nothing (a scrape must not
    break what it watches).
    """

    def __init__(self, source: Callable[[], Iterable[Metric]]) -> None:
        self.source = source

    def collect(self) -> Iterable[Metric]:
        try:
            return list(self.source())
        except Exception:
            log.exception("collecting metrics failed")
            return []


def register_once(name: str, collector: Any) -> None:
    """Register a collector in the default registry once per process (modules may be imported again in tests)."""
    if name not in _registered:
        REGISTRY.register(collector)
        _registered.add(name)


_registered: set[str] = set()
