"""The operator's metrics: how long each handler takes and how it ends (served on its own port, see run.py)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import kopf
from prometheus_client import Histogram

from gymkube.metrics import DURATION_BUCKETS

RECONCILE_DURATION = Histogram(
    "gymkube_operator_reconcile_duration_seconds",
    "How long the operator's handlers take, by handler (reconcile, load, drain) and outcome.",
    ["handler", "outcome"],
    buckets=DURATION_BUCKETS,
)


@asynccontextmanager
async def timed(handler: str) -> AsyncIterator[None]:
    """Time one run of a handler; the outcome is `done`, `retry` (kopf will try again), `failed` or `error`."""
    started = time.monotonic()
    outcome = "error"
    try:
        yield
        outcome = "done"
    except kopf.TemporaryError:
        outcome = "retry"
        raise
    except kopf.PermanentError:
        outcome = "failed"
        raise
    finally:
        RECONCILE_DURATION.labels(handler, outcome).observe(time.monotonic() - started)
