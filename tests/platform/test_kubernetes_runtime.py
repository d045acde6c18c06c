"""The control plane's kubernetes runtime against the emulated API: Experiments in, pods out."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kubernetes.config import incluster_config

from gymkube.kube import Kube, KubeError, load_configuration
from gymkube.platform.main import build_app
from gymkube.platform.runtime.base import RuntimeFailure
from gymkube.platform.runtime.kubernetes import KubernetesRuntime
from gymkube.platform.settings import PlatformSettings, SettingsError
from gymkube.spec import load_experiment_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from k8s_credentials import ACCEPTED, REFUSED, Authority, token_user, user_for, write_kubeconfig  # noqa: E402
from k8s_emulator import EmulatedCluster  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
EXPERIMENTS = "/apis/gymkube.io/v1alpha1/namespaces/default/experiments"
PODS = "/api/v1/namespaces/default/pods"
HTTP_PORT = {"name": "http", "containerPort": 8100}
CARTPOLE = load_experiment_file(ROOT / "examples" / "cartpole.yaml")[0]


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
        assert endpoint.url == "https://play.example.org/play/default/cartpole/0/"
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
    settings = PlatformSettings(dev=True, state_dir=tmp_path, runtime="kubernetes", secret="platform-secret-" * 2)
    app = build_app(settings, runtime=runtime_for(cluster))
    token = await app.state.plane.state.create_token("alice")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cp",
                                 headers={"Authorization": f"Bearer {token}"}) as api:  # fmt: skip
        reply = await api.post("/api/v1/experiments", content=(ROOT / "examples" / "cartpole.yaml").read_bytes())
        assert reply.status_code == 201, reply.text
        assert reply.json()["phase"] == "Pending"
    assert cluster.get(f"{EXPERIMENTS}/cartpole")["metadata"]["uid"]


async def test_the_rest_api_refuses_an_image_the_operator_would_refuse_with_a_422(
    cluster: EmulatedCluster, tmp_path: Path
):
    allowed = ["ghcr.io/gymkube/gymkube:0.1.0", "registry.example.org/lab-a/*"]
    settings = PlatformSettings(
        dev=True, state_dir=tmp_path, runtime="kubernetes", allowed_images=allowed, secret="shared-platform-secret"
    )
    app = build_app(settings, runtime=runtime_for(cluster))
    token = await app.state.plane.state.create_token("alice")
    manifest = (ROOT / "examples" / "cartpole.yaml").read_text()

    def with_image(image: str) -> str:
        return manifest.replace("spec:\n", f"spec:\n  image: {image}\n", 1)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cp",
                                 headers={"Authorization": f"Bearer {token}"}) as api:  # fmt: skip
        refused = await api.post("/api/v1/experiments", content=with_image("registry.example.org/lab-b/miner:1"))
        assert refused.status_code == 422
        assert refused.json()["detail"] == {
            "message": "this platform does not run that",
            "problems": [
                "spec.image: registry.example.org/lab-b/miner:1 is not allowed on this platform "
                "(allowed: ghcr.io/gymkube/gymkube:0.1.0, registry.example.org/lab-a/*)"
            ],
        }
        assert cluster.get(f"{EXPERIMENTS}/cartpole") is None

        created = await api.post("/api/v1/experiments", content=with_image("registry.example.org/lab-a/env:2"))
        assert created.status_code == 201, created.text
        update = await api.put("/api/v1/experiments/cartpole", content=with_image("docker.io/library/alpine:3"))
        assert update.status_code == 422 and "docker.io/library/alpine:3" in update.json()["detail"]["problems"][0]
    assert cluster.get(f"{EXPERIMENTS}/cartpole")["spec"]["image"] == "registry.example.org/lab-a/env:2"


@pytest.mark.parametrize("method", ACCEPTED)
async def test_the_runtime_authenticates_with_a_client_certificate_or_an_exec_plugin(
    cluster: EmulatedCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str
):
    kubeconfig = cluster.write_kubeconfig_for(user_for(method, cluster.credentials, tmp_path))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    runtime = runtime_for(cluster)
    await runtime.start()
    await runtime.apply(CARTPOLE)
    await runtime.close()
    assert cluster.get(f"{EXPERIMENTS}/cartpole") is not None


@pytest.mark.parametrize("method", REFUSED)
async def test_the_runtime_is_refused_with_a_wrong_or_missing_credential(
    cluster: EmulatedCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, method: str
):
    kubeconfig = cluster.write_kubeconfig_for(user_for(method, cluster.credentials, tmp_path))
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    runtime = runtime_for(cluster)
    with pytest.raises(KubeError) as refused:
        await runtime.start()
    with pytest.raises(RuntimeFailure, match="refused the experiment"):
        await runtime.apply(CARTPOLE)
    await runtime.close()
    if method == "untrusted-certificate":  # the TLS handshake fails: no HTTP status at all
        assert refused.value.status == 0 and "could not be reached" in str(refused.value)
    else:
        assert refused.value.status == 401 and "Unauthorized" in str(refused.value)
    assert cluster.get(f"{EXPERIMENTS}/cartpole") is None


async def test_the_runtime_refuses_a_server_whose_certificate_the_kubeconfig_does_not_trust(
    cluster: EmulatedCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    impostor_ca = Authority("impostor-ca").cert_pem  # the kubeconfig trusts this CA, not the server's
    kubeconfig = write_kubeconfig(
        tmp_path / "impostor", cluster.url, impostor_ca, token_user(cluster.credentials.token)
    )
    monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
    runtime = runtime_for(cluster)
    with pytest.raises(KubeError, match="CERTIFICATE_VERIFY_FAILED"):
        await runtime.start()
    await runtime.close()


async def test_in_a_cluster_the_runtime_uses_the_pods_service_account(
    cluster: EmulatedCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    account = tmp_path / "serviceaccount"  # what kubelet mounts at /var/run/secrets/kubernetes.io/serviceaccount
    account.mkdir()
    (account / "token").write_text(cluster.credentials.token)
    (account / "ca.crt").write_bytes(cluster.credentials.authority.cert_pem)
    (account / "namespace").write_text("studies")
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(account / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(account / "ca.crt"))
    host, port = cluster.url.removeprefix("https://").rsplit(":", 1)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", host)
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", port)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig-here"))

    runtime = runtime_for(cluster)
    assert runtime.namespace == "studies"
    await runtime.apply(CARTPOLE)
    await runtime.close()
    assert cluster.get("/apis/gymkube.io/v1alpha1/namespaces/studies/experiments/cartpole") is not None


def test_without_credentials_the_control_plane_refuses_to_start_saying_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    with pytest.raises(SettingsError, match="needs credentials: .*no-such-kubeconfig"):
        settings = PlatformSettings(dev=True, state_dir=tmp_path, runtime="kubernetes", secret="shared-platform-secret")
        build_app(settings)
