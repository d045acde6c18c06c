"""Tenant isolation on Kubernetes (issue 15): what an Experiment's author gets from the operator, and no more.

The operator runs under KopfRunner against the emulated API. Each test takes the part of someone
who may create Experiments in a namespace and asks for more than that: another image, a Secret
they cannot read, objects that are not theirs, another namespace's public path. Each is refused
with a status message (or kept apart), and nothing that is not the Experiment's is modified.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import game_pod_process
from k8s_emulator import EmulatedCluster
from operator_harness import (
    CONFIGMAPS,
    EXPERIMENTS,
    INGRESSES,
    NETWORK_POLICIES,
    PLATFORM_SECRET,
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
from gymkube.keys import PARTICIPANT_TOKENS, derive
from gymkube.kube import Kube, load_configuration
from gymkube.platform.main import build_app
from gymkube.platform.runtime.kubernetes import KubernetesRuntime
from gymkube.platform.settings import PlatformSettings
from gymkube.tokens import sign_token

EXPERIMENT = f"{EXPERIMENTS}/cartpole"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[EmulatedCluster]:
    with emulated_cluster(tmp_path) as k8s, running_operator():
        yield k8s


def status(cluster: EmulatedCluster, path: str = EXPERIMENT) -> dict[str, Any]:
    return dict((cluster.get(path) or {}).get("status") or {})


def named(name: str, **spec: Any) -> dict[str, Any]:
    document = cartpole(**spec)
    document["metadata"]["name"] = name
    return document


def refused_with(cluster: EmulatedCluster, path: str = EXPERIMENT) -> str:
    wait_for(lambda: status(cluster, path).get("phase") == "Failed", "phase Failed")
    return str(status(cluster, path)["message"])


async def admitted(port: int, token: str) -> bool:
    """Whether the game pod on `port` lets a participant with this token in (it shows them the first scene)."""
    participant = ParticipantBot("unused", seed=1, stop_at="consent")
    participant.pod_url, participant.token = f"http://127.0.0.1:{port}/", token
    await participant.run(15)
    assert bool(participant.scenes) != bool(participant.refused), "either the first scene or a refusal"
    if participant.refused:
        assert participant.refused["reason"] == "token"
    return bool(participant.scenes)


async def test_a_token_the_control_plane_signs_for_one_experiment_opens_only_that_experiments_pods(
    cluster: EmulatedCluster, tmp_path: Path
):
    documents = {name: named(name) for name in ("alpha", "beta")}
    for document in documents.values():
        cluster.create(EXPERIMENTS, document)
    keys = {name: experiment_key_in_cluster(cluster, name) for name in documents}
    assert keys["alpha"] != keys["beta"]

    statefulset = wait_for(lambda: cluster.get(f"{STATEFULSETS}/gx-alpha"), "alpha's StatefulSet")
    (pod,) = statefulset["spec"]["template"]["spec"]["containers"]
    assert PLATFORM_SECRET not in json.dumps(pod)
    secrets_read = [
        e["valueFrom"]["secretKeyRef"]["name"] for e in pod["env"] if "secretKeyRef" in e.get("valueFrom", {})
    ]
    assert secrets_read == ["gx-alpha-key"] and "envFrom" not in pod

    # The control plane derives each experiment's key from the same platform secret, namespace, name and uid.
    configuration, namespace = load_configuration()
    runtime = KubernetesRuntime(Kube(configuration), namespace, "https://play.example.org")
    settings = PlatformSettings(dev=True, state_dir=tmp_path / "control-plane", runtime="kubernetes",
                                secret=PLATFORM_SECRET)  # fmt: skip
    plane = build_app(settings, runtime=runtime).state.plane
    await runtime.refresh()
    signing = {name: plane.token_key(runtime.get(name)) for name in documents}
    await runtime.close()
    assert signing == {name: derive(key, PARTICIPANT_TOKENS) for name, key in keys.items()}

    for name in documents:
        (tmp_path / name).mkdir()

    participants = iter(range(100))

    def token(signed_by: str, claims: str) -> str:
        participant = f"p{next(participants)}"
        return sign_token(signing[signed_by], {"x": claims, "p": participant, "s": participant, "n": 0, "q": {}})

    with (
        game_pod_process(tmp_path / "alpha", documents["alpha"], pod_name="gx-alpha-0", secret=keys["alpha"]) as alpha,
        game_pod_process(tmp_path / "beta", documents["beta"], pod_name="gx-beta-0", secret=keys["beta"]) as beta,
    ):
        assert await admitted(alpha, token("alpha", "alpha"))
        assert await admitted(beta, token("beta", "beta"))
        assert not await admitted(beta, token("alpha", "beta")), "alpha's key must not open beta's pods"
        assert not await admitted(beta, token("alpha", "alpha"))


def test_an_image_off_the_allowlist_is_refused_in_the_status_and_never_runs(cluster: EmulatedCluster):
    cluster.create(EXPERIMENTS, cartpole(image="registry.example.org/lab-b/miner:1"))
    assert refused_with(cluster) == (
        "spec.image: registry.example.org/lab-b/miner:1 is not allowed on this platform "
        "(allowed: ghcr.io/gymkube/gymkube:*, registry.example.org/lab-a/*)"
    )
    assert cluster.get(f"{STATEFULSETS}/gx-cartpole") is None and cluster.get(f"{SECRETS}/gx-cartpole-key") is None

    cluster.patch(EXPERIMENT, {"spec": {"image": "registry.example.org/lab-a/own-env:2"}})
    wait_for(lambda: status(cluster).get("phase") == "Pending", "phase Pending with an allowed image")
    (pod,) = cluster.get(f"{STATEFULSETS}/gx-cartpole")["spec"]["template"]["spec"]["containers"]
    assert pod["image"] == "registry.example.org/lab-a/own-env:2"


def test_a_turn_secret_nobody_labelled_for_turn_is_never_mounted(cluster: EmulatedCluster):
    cluster.create(SECRETS, {"metadata": {"name": "lab-database"},
                             "data": {"secret": base64.b64encode(b"hunter2").decode()}})  # fmt: skip
    cluster.create(EXPERIMENTS, cartpole(turn={"secretName": "lab-database", "urls": ["turn:turn.example.org:3478"]}))
    message = refused_with(cluster)
    assert message == (
        "spec.turn.secretName: there is no Secret lab-database labelled gymkube.io/turn=true in namespace default "
        "(whoever manages that Secret can label it: kubectl label secret lab-database gymkube.io/turn=true)"
    )
    assert cluster.get(f"{STATEFULSETS}/gx-cartpole") is None

    cluster.patch(EXPERIMENT, {"spec": {"turn": {"secretName": "no-such-secret"}}})
    wait_for(lambda: "no-such-secret" in status(cluster).get("message", ""), "the status to name the new Secret")
    assert status(cluster)["message"] == message.replace("lab-database", "no-such-secret"), "existence is not told"

    cluster.patch(EXPERIMENT, {"spec": {"turn": {"secretName": "lab-database"}}})
    cluster.patch(f"{SECRETS}/lab-database", {"metadata": {"labels": {"gymkube.io/turn": "true"}}})
    wait_for(lambda: status(cluster).get("phase") == "Pending", "phase Pending once the Secret is labelled")
    volumes = cluster.get(f"{STATEFULSETS}/gx-cartpole")["spec"]["template"]["spec"]["volumes"]
    assert [v["secret"]["secretName"] for v in volumes if "secret" in v] == ["lab-database"]


def test_static_turn_credentials_come_only_from_a_secret_labelled_for_turn(cluster: EmulatedCluster):
    data = {key: base64.b64encode(value).decode() for key, value in (("username", b"u1"), ("credential", b"c1"))}
    cluster.create(SECRETS, {"metadata": {"name": "metered"}, "data": data})
    turn = {"credentialsSecret": "metered", "urls": ["turn:global.relay.metered.ca:80"]}
    cluster.create(EXPERIMENTS, cartpole(turn=turn))
    assert refused_with(cluster).startswith("spec.turn.credentialsSecret: there is no Secret metered labelled")
    assert cluster.get(f"{STATEFULSETS}/gx-cartpole") is None

    cluster.patch(f"{SECRETS}/metered", {"metadata": {"labels": {"gymkube.io/turn": "true"}}})
    wait_for(lambda: status(cluster).get("phase") == "Pending", "phase Pending once the Secret is labelled")
    pod = cluster.get(f"{STATEFULSETS}/gx-cartpole")["spec"]["template"]["spec"]
    assert [v["secret"]["items"] for v in pod["volumes"] if "secret" in v] == [
        [{"key": "username", "path": "username"}, {"key": "credential", "path": "credential"}]
    ]


def test_another_experiments_key_is_never_mountable_as_a_turn_secret(cluster: EmulatedCluster):
    victim = named("victim")
    victim["metadata"]["labels"] = {"gymkube.io/turn": "true"}  # kopf copies an Experiment's labels to its children
    cluster.create(EXPERIMENTS, victim)
    key = wait_for(lambda: cluster.get(f"{SECRETS}/gx-victim-key"), "the victim's key Secret")
    assert key["metadata"]["labels"]["gymkube.io/turn"] == "true"
    cluster.create(EXPERIMENTS, cartpole(turn={"secretName": "gx-victim-key", "urls": ["turn:t.example.org:3478"]}))
    assert refused_with(cluster).startswith("spec.turn.secretName: there is no Secret gx-victim-key labelled")
    assert cluster.get(f"{STATEFULSETS}/gx-cartpole") is None


@pytest.mark.parametrize(
    ("kind", "path", "foreign"),
    [
        ("ConfigMap", f"{CONFIGMAPS}/gx-cartpole", {"data": {"mine": "yes"}}),
        ("Service", f"{SERVICES}/gx-cartpole-0", {"spec": {"ports": [{"port": 80}], "selector": {"app": "mine"}}}),
        ("Secret", f"{SECRETS}/gx-cartpole-key", {"data": {"key": base64.b64encode(b"a key I know").decode()}}),
    ],
)
def test_a_gx_object_someone_else_made_is_reported_never_adopted_and_never_changed(
    cluster: EmulatedCluster, kind: str, path: str, foreign: dict[str, Any]
):
    collection, name = path.rsplit("/", 1)
    before = cluster.create(collection, {"metadata": {"name": name, "labels": {"gymkube.io/experiment": "cartpole"}},
                                         **foreign})  # fmt: skip
    cluster.create(EXPERIMENTS, cartpole())
    assert refused_with(cluster) == (
        f"{kind} {name} exists and does not belong to this experiment (no ownerReference to it); the operator "
        "changes nothing it does not own: delete or rename that object, or rename the experiment"
    )
    wait_for(lambda: status(cluster).get("observedGeneration") == 1, "the refusal to be recorded")
    assert cluster.get(path) == before, f"the foreign {kind} was modified"
    assert cluster.get(f"{STATEFULSETS}/gx-cartpole") is None, "no game pod runs beside a foreign object"

    cluster.delete(path)
    wait_for(lambda: status(cluster).get("phase") == "Pending", "phase Pending once the name is free")
    ours = wait_for(lambda: cluster.get(path), f"the experiment's own {kind}")
    assert [ref["uid"] for ref in ours["metadata"]["ownerReferences"]] == [cluster.get(EXPERIMENT)["metadata"]["uid"]]


def test_experiments_of_one_name_in_two_namespaces_have_their_own_paths_keys_and_children(cluster: EmulatedCluster):
    lab_b = "/apis/gymkube.io/v1alpha1/namespaces/lab-b/experiments"
    created = {"default": cluster.create(EXPERIMENTS, cartpole()), "lab-b": cluster.create(lab_b, cartpole())}
    paths, keys = {}, {}
    for namespace, experiment in created.items():
        path = f"/apis/networking.k8s.io/v1/namespaces/{namespace}/ingresses/gx-cartpole"
        ingress = wait_for(functools.partial(cluster.get, path), f"the Ingress in {namespace}")
        assert ingress["metadata"]["ownerReferences"][0]["uid"] == experiment["metadata"]["uid"]
        (rule,) = ingress["spec"]["rules"]
        paths[namespace] = [p["path"] for p in rule["http"]["paths"]]
        keys[namespace] = experiment_key_in_cluster(cluster, "cartpole", namespace)
        statefulset = cluster.get(f"/apis/apps/v1/namespaces/{namespace}/statefulsets/gx-cartpole")
        env = {e["name"]: e.get("value") for e in statefulset["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["GYMKUBE_BASE_PATH"] == f"/play/{namespace}/cartpole/{{ordinal}}/"
    assert paths == {"default": ["/play/default/cartpole/0/"], "lab-b": ["/play/lab-b/cartpole/0/"]}
    assert keys["default"] != keys["lab-b"]
    assert status(cluster)["phase"] == "Pending" and status(cluster, f"{lab_b}/cartpole")["phase"] == "Pending"


def test_each_experiments_game_pods_get_a_network_policy_before_they_exist(cluster: EmulatedCluster):
    cluster.create(EXPERIMENTS, cartpole())
    wait_for(lambda: cluster.get(f"{STATEFULSETS}/gx-cartpole"), "the StatefulSet")
    policy = cluster.get(f"{NETWORK_POLICIES}/gx-cartpole")
    assert policy["spec"]["podSelector"] == {"matchLabels": {"gymkube.io/experiment": "cartpole"}}
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    calls = cluster.inspect(lambda emulator: list(emulator.calls))
    created = [path.split("?")[0] for method, path in calls if method == "POST"]
    assert created.index(NETWORK_POLICIES) < created.index(STATEFULSETS)
    assert created.index(SECRETS) < created.index(STATEFULSETS)
    assert created.index(INGRESSES) < created.index(STATEFULSETS)
