"""The Experiment's status: its phase and message, and the counts participants are in."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gymkube.operator.load import PodLoad
from gymkube.spec.experiment import ExperimentSpec

FAILED, PAUSED, COMPLETED, RUNNING, PENDING = "Failed", "Paused", "Completed", "Running", "Pending"


def decide_phase(spec: ExperimentSpec, *, ready_replicas: int, replicas: int, completed: int) -> tuple[str, str]:
    """The phase of a valid experiment and a message for it (Failed is decided by validation)."""
    if spec.paused:
        return PAUSED, "Paused: new participants are turned away; those already in finish."
    target = spec.target_participants
    if target is not None and completed >= target:
        return COMPLETED, f"Reached the target of {target} completed participants."
    if ready_replicas >= 1:
        return RUNNING, f"{ready_replicas} of {replicas} game pods ready."
    return PENDING, f"Waiting for game pods: {ready_replicas} of {replicas} ready."


def participant_counts(load: PodLoad, previous: Mapping[str, Any]) -> dict[str, int]:
    """`waiting`, `playing` (games under way) and `completed` for the status.

    `completed` never goes down: a game pod forgets its finished participants when it is
    replaced, but they stay completed.
    """
    earlier = previous.get("completed")
    completed = max(load.completed, earlier if isinstance(earlier, int) else 0)
    return {"waiting": load.waiting, "playing": load.games, "completed": completed}


def summarize(counts: Mapping[str, int]) -> str:
    """The counts in words, as `kubectl get experiments` shows them."""
    return f"{counts['waiting']} waiting / {counts['playing']} playing / {counts['completed']} completed"


def status_changes(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `desired` that differ from `current` (an empty patch writes nothing)."""
    return {key: value for key, value in desired.items() if current.get(key) != value}
