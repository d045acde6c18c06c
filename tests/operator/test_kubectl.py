"""A researcher's kubectl against the emulated cluster while the operator runs."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from k8s_emulator import EmulatedCluster
from operator_harness import EXAMPLES, PUBLIC_URL, STATEFULSETS, emulated_cluster, running_operator, wait_for
from tools import k8s_tool


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[EmulatedCluster]:
    with emulated_cluster(tmp_path) as k8s, running_operator():
        yield k8s


def kubectl(cluster: EmulatedCluster, *args: str) -> str:
    result = subprocess.run(
        [str(k8s_tool("kubectl")), f"--kubeconfig={cluster.kubeconfig}", "--request-timeout=10s", *args],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, f"kubectl {' '.join(args)}: {result.stderr}"
    return result.stdout


def test_kubectl_applies_an_experiment_and_shows_its_status_columns(cluster: EmulatedCluster):
    assert kubectl(cluster, "apply", "--validate=false", "-f", str(EXAMPLES / "cartpole.yaml")).strip() == (
        "experiment.gymkube.io/cartpole created"
    )
    statefulset = wait_for(lambda: cluster.get(f"{STATEFULSETS}/gx-cartpole"), "the StatefulSet")
    cluster.patch(f"{STATEFULSETS}/gx-cartpole/status", {"status": {"replicas": 1, "readyReplicas": 1}})
    kubectl(cluster, "wait", "--for=jsonpath={.status.phase}=Running", "experiment/cartpole", "--timeout=15s")

    header, row = kubectl(cluster, "get", "experiments").splitlines()
    assert header.split() == ["NAME", "PHASE", "READY", "PARTICIPANTS", "URL", "AGE"]
    assert row.split()[:-1] == [
        "cartpole", "Running", "1", "0", "waiting", "/", "0", "playing", "/", "0", "completed",
        f"{PUBLIC_URL}/x/cartpole",
    ]  # fmt: skip
    assert kubectl(cluster, "get", "gx", "-o", "name").split() == ["experiment.gymkube.io/cartpole"]

    assert "unchanged" in kubectl(cluster, "apply", "--validate=false", "-f", str(EXAMPLES / "cartpole.yaml"))
    assert cluster.get(f"{STATEFULSETS}/gx-cartpole")["metadata"]["uid"] == statefulset["metadata"]["uid"]

    kubectl(cluster, "delete", "experiment", "cartpole", "--timeout=15s")
    assert kubectl(cluster, "get", "experiments,statefulsets,services", "-o", "name").split() == []
