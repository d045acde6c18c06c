"""The control plane's kubernetes runtime against the emulated API: Experiments in, pods out."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gymkube.kube import Kube, load_configuration
from gymkube.platform.main import build_app
from gymkube.platform.runtime.base import RuntimeFailure
from gymkube.platform.runtime.kubernetes import KubernetesRuntime
from gymkube.platform.settings import PlatformSettings
from gymkube.spec import load_experiment_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from k8s_emulator import EmulatedCluster  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = "/apis/gymkube.io/v1alpha1/namespaces/default/experiments"
PODS = "/api/v1/namespaces/default/pods"
HTTP_PORT = {"name": "http", "containerPort": 8100}


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatedCluster]:
    with EmulatedCluster(tmp_path / "kubeconfig") as emulated:
        monkeypatch.setenv("KUBECONFIG", str(emulated.kubeconfig))
        yield emulated


def runtime_for(cluster: EmulatedCluster) -> KubernetesRuntime:
    """The runtime as the control plane makes it: credentials and namespace from $KUBECONFIG."""
    configuration, namespace = load_configuration()
    return KubernetesRuntime(Kube(configuration), namespace, "https://play.example.org")


def pod(name: str, ip: str | None, ready: bool, experiment: str = "cartpole") -> dict:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"gymkube.io/experiment": experiment}},
        "spec": {"containers": [{"name": "game-pod", "image": "x", "ports": [HTTP_PORT]}]},
        "status": {"podIP": ip, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }  # fmt: skip


def test_experiments_go_to_the_api_and_ready_pods_come_back_with_their_addresses(cluster: EmulatedCluster):
    cartpole = load_experiment_file(ROOT / "examples" / "cartpole.yaml")[0]

    async def main() -> None:
        runtime = runtime_for(cluster)
        await runtime.start()
        assert runtime.records() == []
        record = await runtime.apply(cartpole)
        stored = cluster.get(f"{EXPERIMENTS}/cartpole")
        assert stored is not None and stored["spec"]["scenes"][0]["id"] == "consent"
        assert record.name == "cartpole" and record.generation == 1

        bigger = cartpole.model_copy(update={"spec": cartpole.spec.model_copy(update={"capacity": 7})})
        assert (await runtime.apply(bigger)).generation == 2
        assert cluster.get(f"{EXPERIMENTS}/cartpole")["spec"]["capacity"] == 7
        assert (await runtime.set_paused("cartpole", True)).paused
        assert cluster.get(f"{EXPERIMENTS}/cartpole")["spec"]["paused"] is True

        cluster.create(PODS, pod("gx-cartpole-0", "10.1.2.3", ready=True))
        cluster.create(PODS, pod("gx-cartpole-1", "10.1.2.4", ready=False))
        cluster.create(PODS, pod("gx-other-0", "10.1.2.5", ready=True, experiment="other"))
        cluster.patch(f"{EXPERIMENTS}/cartpole/status", {"status": {"phase": "Completed"}})
        await runtime.refresh()
        (endpoint,) = runtime.pods("cartpole")
        assert endpoint.url == "https://play.example.org/play/cartpole/0/"
        assert endpoint.load_url == "http://10.1.2.3:8100/load"
        assert runtime.get("cartpole").status["phase"] == "Completed"

        local_bundle = cartpole.model_copy(update={"spec": cartpole.spec.model_copy(update={"bundle": "forage"})})
        with pytest.raises(RuntimeFailure, match="uploaded bundle"):
            await runtime.apply(local_bundle)
        await runtime.delete("cartpole")
        assert cluster.get(f"{EXPERIMENTS}/cartpole") is None and runtime.get("cartpole") is None
        await runtime.close()

    asyncio.run(main())


async def test_the_rest_api_creates_the_resource_on_a_cluster(cluster: EmulatedCluster, tmp_path: Path):
    app = build_app(PlatformSettings(dev=True, state_dir=tmp_path, runtime="kubernetes"), runtime=runtime_for(cluster))
    token = app.state.plane.tokens.create("alice")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cp",
                                 headers={"Authorization": f"Bearer {token}"}) as api:  # fmt: skip
        reply = await api.post("/api/v1/experiments", content=(ROOT / "examples" / "cartpole.yaml").read_bytes())
        assert reply.status_code == 201, reply.text
        assert reply.json()["phase"] == "Pending"
    assert cluster.get(f"{EXPERIMENTS}/cartpole")["metadata"]["uid"]
