"""The operator run by kopf's KopfRunner against an emulated API server, with real game pods for load."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import game_pod_process, quick_manifest
from k8s_emulator import EmulatedCluster
from operator_harness import (
    CONFIGMAPS,
    EXPERIMENTS,
    INGRESSES,
    NETWORK_POLICIES,
    PDBS,
    PLATFORM_SECRET,
    PODS,
    PUBLIC_URL,
    SECRETS,
    SERVICES,
    STATEFULSETS,
    cartpole,
    emulated_cluster,
    experiment_key_in_cluster,
    running_operator,
    wait_for,
)

from gymkube.bot import ParticipantBot
from gymkube.keys import PARTICIPANT_TOKENS, derive, experiment_key
from gymkube.tokens import sign_token

EXPERIMENT = f"{EXPERIMENTS}/cartpole"
STATEFULSET = f"{STATEFULSETS}/gx-cartpole"
CHILDREN = [
    f"{CONFIGMAPS}/gx-cartpole",
    STATEFULSET,
    f"{SERVICES}/gx-cartpole",
    f"{SERVICES}/gx-cartpole-0",
    f"{PDBS}/gx-cartpole",
    f"{INGRESSES}/gx-cartpole",
    f"{SECRETS}/gx-cartpole-key",
    f"{NETWORK_POLICIES}/gx-cartpole",
]


@pytest.fixture
def k8s(tmp_path: Path) -> Iterator[EmulatedCluster]:
    """The emulated cluster alone."""
    with emulated_cluster(tmp_path) as cluster:
        yield cluster


@pytest.fixture
def cluster(k8s: EmulatedCluster) -> Iterator[EmulatedCluster]:
    """The emulated cluster with the operator running."""
    with running_operator():
        yield k8s


def status(cluster: EmulatedCluster) -> dict[str, Any]:
    return dict((cluster.get(EXPERIMENT) or {}).get("status") or {})


def replicas(cluster: EmulatedCluster) -> int:
    return int((cluster.get(STATEFULSET) or {"spec": {}})["spec"].get("replicas") or 0)


def checksum(cluster: EmulatedCluster) -> str:
    return str(cluster.get(STATEFULSET)["spec"]["template"]["metadata"]["annotations"]["gymkube.io/spec-checksum"])


def add_pod(cluster: EmulatedCluster, name: str, port: int, ready: bool = True) -> None:
    """Play the StatefulSet controller and the kubelet: a Pod object for a game pod serving on `port`."""
    template = wait_for(lambda: cluster.get(STATEFULSET), "the StatefulSet")["spec"]["template"]
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    cluster.create(PODS, {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {**template["metadata"]["labels"],
                                              "statefulset.kubernetes.io/pod-name": name}},
        "spec": {"containers": [{"name": "game-pod", "image": "gymkube",
                                 "ports": [{"name": "http", "containerPort": port}]}]},
        "status": {"phase": "Running", "podIP": "127.0.0.1", "conditions": conditions},
    })  # fmt: skip


def set_ready_replicas(cluster: EmulatedCluster, ready: int) -> None:
    cluster.patch(f"{STATEFULSET}/status", {"status": {"replicas": replicas(cluster), "readyReplicas": ready}})


def game_pod(tmp_path: Path, document: dict[str, Any], cluster: EmulatedCluster) -> Any:
    """A real `gymkube game-pod` process for the experiment with the key the operator gave it, on a free port."""
    key = experiment_key_in_cluster(cluster, "cartpole")
    return game_pod_process(tmp_path, document, pod_name="gx-cartpole-0", secret=key)


def bot(cluster: EmulatedCluster, port: int, number: int, stop_at: str | None = None) -> ParticipantBot:
    """A participant bot with a token for cartpole signed as the control plane signs it, aimed at the game pod."""
    uid = cluster.get(EXPERIMENT)["metadata"]["uid"]
    token_key = derive(experiment_key(PLATFORM_SECRET, "default", "cartpole", uid), PARTICIPANT_TOKENS)
    participant = ParticipantBot("unused", seed=number, stop_at=stop_at)
    participant.pod_url = f"http://127.0.0.1:{port}/"
    participant.token = sign_token(
        token_key, {"x": "cartpole", "p": f"bot-{number}", "s": f"s{number}", "n": 0, "q": {}}
    )
    return participant


async def until(check: Any, what: str, timeout_s: float = 15.0) -> Any:
    """wait_for in a thread, so that the bots' socket.io keeps running meanwhile."""
    return await asyncio.to_thread(wait_for, check, what, timeout_s)


def test_an_experiment_becomes_game_pods_that_run_once_one_is_ready(cluster: EmulatedCluster):
    created = cluster.create(EXPERIMENTS, cartpole())
    wait_for(lambda: "participantsSummary" in status(cluster), "the first status")
    counts = {"waiting": 0, "playing": 0, "completed": 0}
    assert status(cluster) == {
        "phase": "Pending",
        "message": "Waiting for game pods: 0 of 1 ready.",
        "url": f"{PUBLIC_URL}/x/cartpole",
        "observedGeneration": 1,
        "readyReplicas": 0,
        "participants": counts,
        "participantsSummary": "0 waiting / 0 playing / 0 completed",
    }
    for path in CHILDREN:
        child = cluster.get(path)
        assert child is not None, f"{path} was not created"
        assert [ref["uid"] for ref in child["metadata"]["ownerReferences"]] == [created["metadata"]["uid"]]
    configmap = cluster.get(f"{CONFIGMAPS}/gx-cartpole")
    assert json.loads(configmap["data"]["experiment.json"])["spec"] == created["spec"]
    assert cluster.get(STATEFULSET)["spec"]["replicas"] == 1

    set_ready_replicas(cluster, 1)
    wait_for(lambda: status(cluster)["phase"] == "Running", "phase Running")
    assert status(cluster)["readyReplicas"] == 1
    assert status(cluster)["message"] == "1 of 1 game pods ready."


def test_a_spec_change_rolls_the_game_pods_and_pausing_does_not(cluster: EmulatedCluster):
    cluster.create(EXPERIMENTS, cartpole())
    wait_for(lambda: status(cluster).get("observedGeneration") == 1, "observedGeneration 1")
    first = checksum(cluster)

    cluster.patch(EXPERIMENT, {"spec": {"capacity": 50}})
    wait_for(lambda: status(cluster)["observedGeneration"] == 2, "observedGeneration 2")
    second = checksum(cluster)
    assert second != first
    document = json.loads(cluster.get(f"{CONFIGMAPS}/gx-cartpole")["data"]["experiment.json"])
    assert document["spec"]["capacity"] == 50

    cluster.patch(EXPERIMENT, {"spec": {"paused": True}})
    wait_for(lambda: status(cluster)["observedGeneration"] == 3, "observedGeneration 3")
    assert status(cluster)["phase"] == "Paused"
    assert checksum(cluster) == second, "pausing must not restart the game pods"


async def test_participants_past_the_threshold_add_a_game_pod_and_it_goes_when_they_leave(
    cluster: EmulatedCluster, tmp_path: Path
):
    document = cartpole(capacity=2, replicas=1, maxReplicas=2)
    cluster.create(EXPERIMENTS, document)
    with game_pod(tmp_path, document, cluster) as port:
        add_pod(cluster, "gx-cartpole-0", port)
        set_ready_replicas(cluster, 1)
        bots = [bot(cluster, port, number, stop_at="consent") for number in range(2)]
        for participant in bots:
            await participant.connect()
        await until(lambda: replicas(cluster) == 2, "a second game pod (2 participants > 0.8 x capacity 2)")
        assert cluster.get(f"{SERVICES}/gx-cartpole-1") is not None
        paths = cluster.get(f"{INGRESSES}/gx-cartpole")["spec"]["rules"][0]["http"]["paths"]
        assert [p["path"] for p in paths] == ["/play/default/cartpole/0/", "/play/default/cartpole/1/"]
        await asyncio.sleep(1)  # several load ticks: 2 participants never call for more than maxReplicas
        assert replicas(cluster) == 2

        for participant in bots:
            await participant.sio.disconnect()
        await until(lambda: replicas(cluster) == 1, "the empty second game pod to go")
        await until(lambda: cluster.get(f"{SERVICES}/gx-cartpole-1") is None, "its Service to go")
        paths = cluster.get(f"{INGRESSES}/gx-cartpole")["spec"]["rules"][0]["http"]["paths"]
        assert [p["path"] for p in paths] == ["/play/default/cartpole/0/"]


async def test_the_experiment_completes_when_its_target_participants_finish(cluster: EmulatedCluster, tmp_path: Path):
    document = yaml.safe_load(quick_manifest(tmp_path, "cartpole.yaml", episodes=1, maxSteps=10).read_text())
    document["spec"]["targetParticipants"] = 2
    cluster.create(EXPERIMENTS, document)
    with game_pod(tmp_path, document, cluster) as port:
        add_pod(cluster, "gx-cartpole-0", port)
        set_ready_replicas(cluster, 1)
        await until(lambda: status(cluster).get("phase") == "Running", "phase Running")
        finished = await asyncio.gather(*(bot(cluster, port, number).run(60) for number in range(2)))
        assert all(participant.completion_code for participant in finished)
        await until(lambda: status(cluster)["phase"] == "Completed", "phase Completed")
    assert status(cluster)["participantsSummary"] == "0 waiting / 0 playing / 2 completed"
    assert status(cluster)["message"] == "Reached the target of 2 completed participants."


def test_an_invalid_spec_fails_naming_the_field_until_it_is_fixed(cluster: EmulatedCluster):
    document = cartpole()
    document["spec"]["scenes"][2]["fps"] = 500  # the emulator, unlike an API server, does not check the CRD schema
    cluster.create(EXPERIMENTS, document)
    wait_for(lambda: status(cluster).get("phase") == "Failed", "phase Failed")
    assert "spec.scenes[2].fps" in status(cluster)["message"]
    assert status(cluster)["observedGeneration"] == 1
    assert cluster.get(STATEFULSET) is None

    document["spec"]["scenes"][2]["fps"] = 30
    cluster.patch(EXPERIMENT, {"spec": {"scenes": document["spec"]["scenes"]}})
    wait_for(lambda: status(cluster)["phase"] == "Pending", "phase Pending after the fix")
    assert cluster.get(STATEFULSET) is not None


def test_deleting_an_experiment_waits_until_its_game_pods_have_drained(cluster: EmulatedCluster):
    cluster.create(EXPERIMENTS, cartpole())
    add_pod(cluster, "gx-cartpole-0", 8100, ready=False)
    wait_for(lambda: "gymkube.io/finalizer" in cluster.get(EXPERIMENT)["metadata"].get("finalizers", []), "finalizer")

    cluster.delete(EXPERIMENT)
    wait_for(lambda: replicas(cluster) == 0, "the StatefulSet scaled to 0")
    drain = wait_for(lambda: cluster.get(EXPERIMENT)["metadata"]["annotations"].get("gymkube.io/drain"), "a retry")
    assert "waiting for 1 game pods to drain and flush" in drain
    assert cluster.get(EXPERIMENT)["metadata"]["deletionTimestamp"]

    cluster.delete(f"{PODS}/gx-cartpole-0")
    wait_for(lambda: cluster.get(EXPERIMENT) is None, "the experiment to go")
    for path in CHILDREN:
        assert cluster.get(path) is None, f"{path} was not garbage-collected"


def test_a_restarted_operator_recreates_and_changes_nothing(k8s: EmulatedCluster):
    with running_operator():
        k8s.create(EXPERIMENTS, cartpole())
        wait_for(lambda: "participantsSummary" in status(k8s), "the first status")
    before = {path: k8s.get(path)["metadata"]["resourceVersion"] for path in CHILDREN}
    status_before = status(k8s)
    seen = len(k8s.inspect(lambda emulator: list(emulator.calls)))

    def resumed() -> bool:
        calls = k8s.inspect(lambda emulator: list(emulator.calls))[seen:]
        reconciled = [i for i, (method, path) in enumerate(calls) if method == "POST" and path.startswith(INGRESSES)]
        ticks = [i for i, (method, path) in enumerate(calls) if method == "GET" and path.startswith(f"{PODS}?")]
        return bool(reconciled) and len([i for i in ticks if i > reconciled[0]]) >= 2

    with running_operator() as runner:
        wait_for(resumed, "the resumed reconcile and two load ticks")
    assert {path: k8s.get(path)["metadata"]["resourceVersion"] for path in CHILDREN} == before
    assert status(k8s) == status_before
    assert "Handler 'reconcile' succeeded" in runner.output
