"""The operator's handler durations, by handler and by how the run ended (kopf's own errors say which)."""

from __future__ import annotations

import kopf
import pytest
from prometheus_client import REGISTRY

from gymkube.operator.metrics import timed


def runs(handler: str, outcome: str) -> float:
    labels = {"handler": handler, "outcome": outcome}
    return REGISTRY.get_sample_value("gymkube_operator_reconcile_duration_seconds_count", labels) or 0.0


async def test_each_run_of_a_handler_is_timed_under_its_outcome():
    before = {outcome: runs("reconcile", outcome) for outcome in ("done", "retry", "failed", "error")}
    async with timed("reconcile"):
        pass
    with pytest.raises(kopf.TemporaryError):
        async with timed("reconcile"):
            raise kopf.TemporaryError("not ready", delay=1)
    with pytest.raises(kopf.PermanentError):
        async with timed("reconcile"):
            raise kopf.PermanentError("invalid spec")
    with pytest.raises(RuntimeError):
        async with timed("reconcile"):
            raise RuntimeError("the API went away")
    assert {outcome: runs("reconcile", outcome) - before[outcome] for outcome in before} == {
        "done": 1, "retry": 1, "failed": 1, "error": 1,
    }  # fmt: skip
