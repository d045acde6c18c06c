"""How many game pods a load calls for, and what the status says about it (no cluster)."""

from __future__ import annotations

import pytest

from gymkube.operator.load import PodLoad, desired_replicas, pod_http_port, pod_is_ready, pod_ordinal, total
from gymkube.operator.status import decide_phase, participant_counts, status_changes, summarize
from gymkube.spec.experiment import ExperimentSpec

BOUNDS = {"capacity": 10, "scale_up_at": 0.8, "minimum": 2, "maximum": 4}


@pytest.mark.parametrize(
    ("current", "participants", "last_pod", "expected"),
    [
        (2, 0, 0, 2),  # never below spec.replicas
        (2, 16, 5, 2),  # 16 fill 0.8 of two pods' 20 places: no more yet
        (2, 17, 5, 3),  # one more participant and a third pod is added
        (3, 90, 30, 4),  # never above maxReplicas
        (4, 10, 0, 3),  # the last pod is empty: it goes, one pod at a time
        (4, 10, 1, 4),  # the last pod still has a participant: it stays
    ],
)
def test_the_load_calls_for_pods_within_the_bounds_and_only_empty_pods_go(current, participants, last_pod, expected):
    assert desired_replicas(current, participants, last_pod, **BOUNDS) == expected


def test_pods_that_are_not_ready_or_answer_nonsense_count_as_no_load():
    pod = {
        "metadata": {"name": "gx-pilot-3"},
        "spec": {"containers": [{"ports": [{"name": "metrics", "containerPort": 9}, {"name": "http",
                                                                                     "containerPort": 8100}]}]},
        "status": {"podIP": "10.0.0.7", "conditions": [{"type": "Ready", "status": "True"}]},
    }  # fmt: skip
    assert (pod_ordinal(pod, "gx-pilot"), pod_http_port(pod), pod_is_ready(pod)) == (3, 8100, True)
    assert pod_ordinal({"metadata": {"name": "gx-pilot-web"}}, "gx-pilot") is None
    assert not pod_is_ready({**pod, "status": {"conditions": [{"type": "Ready", "status": "True"}]}})
    assert PodLoad.from_report({"participants": -1, "games": "2", "waiting": 1}) == PodLoad(waiting=1)
    assert PodLoad.from_report(["not", "a", "report"]) == PodLoad()
    assert total([PodLoad(1, 1, 0, 5), PodLoad(2, 1, 1, 0)]) == PodLoad(3, 2, 1, 5)


def test_the_phase_follows_pause_target_and_readiness():
    spec = ExperimentSpec.model_validate({"scenes": [{"type": "end"}], "targetParticipants": 3})
    assert decide_phase(spec, ready_replicas=0, replicas=1, completed=0)[0] == "Pending"
    assert decide_phase(spec, ready_replicas=1, replicas=2, completed=2) == ("Running", "1 of 2 game pods ready.")
    assert decide_phase(spec, ready_replicas=1, replicas=1, completed=3)[0] == "Completed"
    paused = spec.model_copy(update={"paused": True})
    assert decide_phase(paused, ready_replicas=1, replicas=1, completed=3)[0] == "Paused"


def test_completed_participants_are_not_forgotten_when_a_pod_is_replaced():
    counts = participant_counts(PodLoad(participants=4, games=2, waiting=1, completed=3), {"completed": 7})
    assert counts == {"waiting": 1, "playing": 2, "completed": 7}
    assert summarize(counts) == "1 waiting / 2 playing / 7 completed"
    written = {"phase": "Running", "participants": counts}
    assert status_changes(written, {**written}) == {}, "an unchanged status is not written again"
    assert status_changes(written, {**written, "phase": "Completed"}) == {"phase": "Completed"}
