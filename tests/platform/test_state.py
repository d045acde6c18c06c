"""The control plane's state outlives its process and is shared by its replicas (issue 16, item 1).

Embedded: SQLite in the state folder. Kubernetes: a Secret per token and a ConfigMap of ordinals in
the emulated API server, so a restarted control plane with no volume of its own still knows them.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import Platform, quick_manifest

from gymkube.kube import Kube, load_configuration
from gymkube.platform.runtime.local import free_port
from gymkube.platform.state import OrdinalBlocks, StateStore
from gymkube.platform.state.kubernetes import KubernetesState
from gymkube.platform.state.sqlite import SqliteState

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from k8s_emulator import EmulatedCluster  # noqa: E402

SECRETS = "/api/v1/namespaces/default/secrets"


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatedCluster]:
    with EmulatedCluster(tmp_path / "kubeconfig") as emulated:
        monkeypatch.setenv("KUBECONFIG", str(emulated.kubeconfig))
        yield emulated


def kubernetes_state() -> KubernetesState:
    configuration, namespace = load_configuration()
    return KubernetesState(Kube(configuration), namespace)


async def exercise(make: type[StateStore] | object, fresh: object) -> None:
    """What every store must do; `fresh()` opens the same store again, as a restarted process would."""
    store = make() if callable(make) else make
    alice = await store.create_token("alice", ["study-a"])
    admin = await store.create_token("admin")
    assert (await store.verify_token(alice)).experiments == ("study-a",)
    assert (await store.verify_token(admin)).experiments is None
    assert await store.verify_token("gk_not-a-token") is None
    assert await store.verify_token("x" * 10_000) is None
    again = fresh()  # a restarted control plane, or another replica
    assert (await again.verify_token(alice)).name == "alice"
    assert [t.name for t in await again.list_tokens()] == ["alice", "admin"]
    assert await again.revoke_tokens("alice") == 1
    assert await fresh().verify_token(alice) is None
    assert (await fresh().verify_token(admin)).name == "admin"
    with pytest.raises(ValueError, match="not a researcher name"):
        await store.create_token("bad name\n")


async def test_sqlite_keeps_tokens_hashed_across_restarts(tmp_path: Path):
    await exercise(SqliteState(tmp_path / "state.db"), lambda: SqliteState(tmp_path / "state.db"))


async def test_the_cluster_keeps_tokens_as_secrets_named_after_their_hash(cluster: EmulatedCluster):
    store = kubernetes_state()
    await exercise(store, kubernetes_state)
    listed = cluster.get(SECRETS)["items"]
    assert listed and all(s["metadata"]["name"].startswith("gymkube-token-") for s in listed)
    token = await store.create_token("carol")
    assert all(token not in str(s) for s in cluster.get(SECRETS)["items"]), "only the hash is stored"


async def test_ordinals_never_collide_between_replicas(tmp_path: Path, cluster: EmulatedCluster):
    for make in (lambda: SqliteState(tmp_path / "state.db"), kubernetes_state):
        replicas = [OrdinalBlocks(make()) for _ in range(3)]
        taken = await asyncio.gather(*(replicas[i % 3].next("study") for i in range(60)))
        assert len(set(taken)) == 60, "every arrival a number of its own"
        restarted = OrdinalBlocks(make())
        assert await restarted.next("study") > max(taken), "a restart never hands out a number again"
        assert await restarted.next("other") == 0, "each experiment counts from zero"


def control_plane(state_dir: Path, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """`gymkube platform` with its own state folder (as a pod with no volume would have)."""
    environment = {**os.environ, **env, "GYMKUBE_STATE_DIR": str(state_dir), "GYMKUBE_PORT": str(port)}
    return subprocess.Popen([sys.executable, "-m", "gymkube", "platform"], env=environment,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


def wait_healthy(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert process.poll() is None and time.monotonic() < deadline, "the control plane did not start"
        time.sleep(0.2)


def test_tokens_work_after_the_control_plane_is_killed_and_started_again_with_no_volume(
    cluster: EmulatedCluster, tmp_path: Path
):
    env = {"GYMKUBE_RUNTIME": "kubernetes", "GYMKUBE_SECRET": "a-platform-secret-the-chart-made",
           "GYMKUBE_ADMIN_SECRET": "an-admin-secret-of-this-install",
           "KUBECONFIG": str(cluster.kubeconfig)}  # fmt: skip
    token = subprocess.run([sys.executable, "-m", "gymkube", "token", "create", "dana"], env={**os.environ, **env},
                           capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    for attempt in range(2):  # the second start has an empty state folder, as after a reschedule
        process = control_plane(tmp_path / f"state{attempt}", port, env)
        try:
            wait_healthy(base, process)
            reply = httpx.get(base + "/api/v1/experiments", headers={"Authorization": f"Bearer {token}"})
            assert reply.status_code == 200, reply.text
        finally:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_tokens_work_after_the_embedded_platform_is_killed_and_started_again(tmp_path: Path):
    manifest = quick_manifest(tmp_path, "cartpole.yaml")
    first = Platform([manifest], tmp_path / "data")
    try:
        token = first.token("erin")
        pods = first.pod_pids()
        os.killpg(first.process.pid, signal.SIGKILL)
        first.process.wait()
        deadline = time.monotonic() + 45
        while any(Path(f"/proc/{pid}").exists() for pid in pods):  # pods follow their control plane out
            assert time.monotonic() < deadline, "game pods outlived their control plane"
            time.sleep(0.2)
    finally:
        first.stop()
    again = Platform([manifest], tmp_path / "data")
    try:
        reply = httpx.get(again.base + "/api/v1/experiments", headers={"Authorization": f"Bearer {token}"})
        assert reply.status_code == 200 and reply.json()[0]["name"] == "cartpole"
    finally:
        again.stop()


def test_on_kubernetes_the_control_plane_refuses_to_start_without_the_shared_platform_secret(tmp_path: Path):
    from gymkube.platform.main import build_app
    from gymkube.platform.settings import PlatformSettings, SettingsError

    with pytest.raises(SettingsError, match="GYMKUBE_SECRET .* every control plane replica"):
        build_app(PlatformSettings(dev=True, state_dir=tmp_path, runtime="kubernetes"))
