"""The chart's isolation: NetworkPolicies (its own, and the game pods' the operator makes from its values),
the image allowlist, and which credentials reach which pod."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from chart_harness import (  # noqa: F401 - the fixtures `helm` and `render`
    CHART,
    DEFAULT,
    E2E,
    FULL,
    KUBERNETES_VERSIONS,
    NAMESPACE,
    RELEASE,
    Doc,
    container,
    env_of,
    find,
    grants,
    helm_fixture,
    render_fixture,
)

from gymkube.operator.isolation import make_network_policy
from gymkube.operator.settings import OperatorSettings
from gymkube.platform.settings import PlatformSettings

VALUES = {"default": DEFAULT, "full": FULL, "kind-e2e": E2E}
METADATA = ipaddress.ip_network("169.254.169.254/32")
BODY = {"metadata": {"name": "pilot", "namespace": "studies", "uid": "0f7c"}, "spec": {}}


def operator_settings(docs: list[Doc], monkeypatch: pytest.MonkeyPatch) -> OperatorSettings:
    """The operator's settings from its rendered environment (Secret values made up: not what is tested here)."""
    for name, value in env_of(container(docs, "gymkube-operator")).items():
        monkeypatch.setenv(name, value if isinstance(value, str) else "a-platform-secret-of-some-length")
    monkeypatch.setenv("GYMKUBE_STORAGE", "s3://bucket")
    return OperatorSettings()


def game_pod_policy(docs: list[Doc], monkeypatch: pytest.MonkeyPatch) -> Doc:
    """The NetworkPolicy the operator gives an experiment's game pods, built from the chart's values."""
    network = operator_settings(docs, monkeypatch).network_policy
    assert network is not None
    return make_network_policy(BODY, network)


def pod_labels(docs: list[Doc], deployment: str) -> dict[str, str]:
    return dict(find(docs, "Deployment", deployment)["spec"]["template"]["metadata"]["labels"])


def selects(peer: Doc, namespace: str, labels: dict[str, str]) -> bool:
    """Whether a NetworkPolicyPeer with a namespaceSelector selects pods with these labels in that namespace."""
    namespaces = peer["namespaceSelector"].get("matchLabels", {})
    pods = peer.get("podSelector", {}).get("matchLabels", {})
    in_namespace = namespaces in ({}, {"kubernetes.io/metadata.name": namespace})
    return in_namespace and all(labels.get(key) == value for key, value in pods.items())


def ip_blocks(policy: Doc) -> list[Doc]:
    rules = policy["spec"].get("egress", [])
    return [peer["ipBlock"] for rule in rules for peer in rule["to"] if "ipBlock" in peer]


def reaches_metadata(block: Doc) -> bool:
    """Whether an ipBlock lets 169.254.169.254 through."""
    cidr = ipaddress.ip_network(block["cidr"])
    excepted = [ipaddress.ip_network(e) for e in block.get("except", [])]
    inside = cidr.version == 4 and METADATA.subnet_of(cidr)  # type: ignore[arg-type]
    return inside and not any(e.version == 4 and METADATA.subnet_of(e) for e in excepted)  # type: ignore[arg-type]


@pytest.mark.parametrize("values", VALUES.values(), ids=VALUES.keys())
def test_the_chart_renders_the_control_plane_and_operator_policies_and_they_are_valid(
    render: Any, values: tuple[str, ...]
) -> None:
    docs = render(*values)
    policies = {d["metadata"]["name"]: d for d in docs if d["kind"] == "NetworkPolicy"}
    assert set(policies) == {"gymkube-controlplane", "gymkube-operator"}
    for policy in policies.values():
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(policy, version, strict=True)
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        assert all(rule["to"] for rule in policy["spec"]["egress"]), "a rule without `to` allows every destination"
    operator_ingress = policies["gymkube-operator"]["spec"].get("ingress", [])
    assert all(rule["ports"] == [{"protocol": "TCP", "port": "metrics"}] for rule in operator_ingress), (
        "nothing connects to the operator but Prometheus, to its metrics"
    )
    control_plane, operator = pod_labels(docs, "gymkube-controlplane"), pod_labels(docs, "gymkube-operator")
    assert policies["gymkube-controlplane"]["spec"]["podSelector"]["matchLabels"].items() <= control_plane.items()
    assert policies["gymkube-operator"]["spec"]["podSelector"]["matchLabels"].items() <= operator.items()


def test_the_control_plane_takes_traffic_only_from_the_ingress_controller_game_pods_and_helm_test(
    render: Any,
) -> None:
    docs = render(*FULL)
    rule, metrics = find(docs, "NetworkPolicy", "gymkube-controlplane")["spec"]["ingress"]
    assert metrics["ports"] == [{"protocol": "TCP", "port": "metrics"}]  # Prometheus (the full values name it)
    assert rule["ports"] == [{"protocol": "TCP", "port": "http"}]
    ingress_controller, game_pods, helm_test = rule["from"]
    assert ingress_controller == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "traefik"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "traefik"}},
    }
    assert game_pods["namespaceSelector"] == {}  # game pods of every namespace ask for signed URLs
    assert game_pods["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "game-pod"
    test_pod = find(docs, "Pod", "gymkube-controlplane-test")["metadata"]["labels"]
    assert helm_test["podSelector"]["matchLabels"].items() <= test_pod.items()

    exposed = render(*FULL, "--set", "controlPlane.service.type=LoadBalancer")
    rule, _ = find(exposed, "NetworkPolicy", "gymkube-controlplane")["spec"]["ingress"]
    assert rule == {"ports": [{"protocol": "TCP", "port": "http"}]}, "a LoadBalancer Service is reached from anywhere"


@pytest.mark.parametrize("values", VALUES.values(), ids=VALUES.keys())
def test_game_pods_are_fenced_in_by_what_the_chart_tells_the_operator(
    render: Any, monkeypatch: pytest.MonkeyPatch, values: tuple[str, ...]
) -> None:
    docs = render(*values)
    policy = game_pod_policy(docs, monkeypatch)
    for version in KUBERNETES_VERSIONS:
        kubernetes_validate.validate(policy, version, strict=True)
    control_plane, operator = pod_labels(docs, "gymkube-controlplane"), pod_labels(docs, "gymkube-operator")
    (ingress,) = policy["spec"]["ingress"]
    ingress_controller, from_control_plane, from_operator, *prometheus = ingress["from"]
    assert len(prometheus) == (values == FULL), "Prometheus reaches the game pods where the values name it"
    assert ingress_controller["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] in (
        "ingress-nginx",
        "traefik",
    )
    assert selects(from_control_plane, NAMESPACE, control_plane) and selects(from_operator, NAMESPACE, operator)
    assert not selects(from_control_plane, NAMESPACE, operator), "peers are told apart by their component"

    dns, to_control_plane, *storage = policy["spec"]["egress"]
    assert {p["port"] for p in dns["ports"]} == {53}
    assert selects(to_control_plane["to"][0], NAMESPACE, control_plane)
    listening, _metrics = container(docs, "gymkube-controlplane")["ports"]
    assert to_control_plane["ports"] == [{"protocol": "TCP", "port": listening["containerPort"]}]
    assert len(storage) == 1 and storage[0]["to"]
    assert not [block for block in ip_blocks(policy) if reaches_metadata(block)], (
        "game pods reach the metadata endpoint"
    )


def test_in_kind_the_game_pods_reach_seaweedfs_as_a_pod_of_their_namespace(
    render: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    seaweedfs = list(yaml.safe_load_all((CHART.parents[1] / "scripts" / "e2e" / "seaweedfs.yaml").read_text()))[0]
    labels = seaweedfs["spec"]["template"]["metadata"]["labels"]
    port = seaweedfs["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
    policy = game_pod_policy(render(*E2E), monkeypatch)
    (storage,) = policy["spec"]["egress"][2:]
    assert storage == {
        "to": [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": labels["app.kubernetes.io/name"]}}}],
        "ports": [{"protocol": "TCP", "port": port}],
    }


def test_turned_off_no_policy_is_rendered_made_or_granted(render: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render("--set", "networkPolicy.enabled=false")
    assert not [d for d in docs if d["kind"] == "NetworkPolicy"]
    assert "GYMKUBE_NETWORK_POLICY" not in env_of(container(docs, "gymkube-operator"))
    assert operator_settings(docs, monkeypatch).network_policy is None
    assert not [g for g in grants(find(docs, "ClusterRole")["rules"]) if g[1] == "networkpolicies"]


def test_the_turn_and_storage_credentials_reach_the_control_plane_and_never_the_operators_game_pods(
    render: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render(*FULL)
    control_plane = find(docs, "Deployment", "gymkube-controlplane")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in control_plane["volumes"]}
    assert volumes["turn"]["secret"] == {"secretName": "lab-turn", "items": [{"key": "secret", "path": "secret"}]}
    env = env_of(container(docs, "gymkube-controlplane"))
    assert env["GYMKUBE_TURN_SECRET_FILE"] == "/var/run/gymkube/turn/secret"
    assert (
        json.loads(env["GYMKUBE_TURN_URLS"])
        == yaml.safe_load((CHART / "ci" / "full-values.yaml").read_text())["turn"]["urls"]
    )
    operator = container(docs, "gymkube-operator")
    assert "envFrom" not in operator and "volumeMounts" in operator
    assert not [
        name for name in env_of(operator) if "TURN" in name or name.endswith(("_SECRET_NAME", "STORAGE_SECRET"))
    ]
    assert not [m for m in operator["volumeMounts"] if m["name"] == "turn"]
    assert operator_settings(docs, monkeypatch).control_plane_url == "http://gymkube-controlplane.lab.svc:8080"


def test_static_turn_credentials_are_mounted_into_the_control_plane_only(
    render: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render("--set", "turn.existingCredentialsSecret=metered", "--set", "turn.urls={turn:relay.metered.ca:80}")
    control_plane = find(docs, "Deployment", "gymkube-controlplane")["spec"]["template"]["spec"]
    items = [{"key": "username", "path": "username"}, {"key": "credential", "path": "credential"}]
    assert {v["name"]: v for v in control_plane["volumes"]}["turn"]["secret"] == {"secretName": "metered",
                                                                                   "items": items}  # fmt: skip
    env = env_of(container(docs, "gymkube-controlplane"))
    assert env["GYMKUBE_TURN_CREDENTIALS_DIR"] == "/var/run/gymkube/turn" and "GYMKUBE_TURN_SECRET_FILE" not in env
    for name, value in env.items():
        if isinstance(value, str):
            monkeypatch.setenv(name, value)
    assert PlatformSettings().turn_credentials_dir == Path("/var/run/gymkube/turn")
    operator = container(docs, "gymkube-operator")
    assert not [m for m in operator.get("volumeMounts", []) if m["name"] == "turn"]


def test_allowed_images_default_to_the_platform_image_and_both_gates_get_the_same_list(
    render: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    platform_image = container(render(), "gymkube-operator")["image"]
    for values, expected in [(DEFAULT, [platform_image]), (FULL, ["registry.example.org/lab/gymkube:*",
                                                                 "registry.example.org/lab-a/*"])]:  # fmt: skip
        docs = render(*values)
        for deployment in ("gymkube-operator", "gymkube-controlplane"):
            assert json.loads(env_of(container(docs, deployment))["GYMKUBE_ALLOWED_IMAGES"]) == expected
        monkeypatch.setenv(
            "GYMKUBE_ALLOWED_IMAGES", env_of(container(docs, "gymkube-controlplane"))["GYMKUBE_ALLOWED_IMAGES"]
        )
        assert PlatformSettings().allowed_images == expected


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("networkPolicy.storage.ports={0}", "/networkPolicy/storage/ports/0"),
        ("networkPolicy.storage.ipBlocks[0].cidr=everything", "/networkPolicy/storage/ipBlocks/0/cidr"),
        ("networkPolicy.storage.bucket=x", "additional properties 'bucket' not allowed"),
        ("networkPolicy.ingressController.namespace=Not_A_Namespace", "/networkPolicy/ingressController/namespace"),
        ("gamePods.allowedImages[0]=has space", "/gamePods/allowedImages/0"),
    ],
)
def test_network_values_a_cluster_would_refuse_are_refused_by_the_schema(helm: Any, setting: str, problem: str) -> None:
    result = helm("template", RELEASE, str(CHART), "--set", setting)
    assert result.returncode != 0
    assert problem in result.stderr, result.stderr


def test_the_notes_warn_when_the_storage_endpoints_port_is_not_let_through(helm: Any) -> None:
    def notes(*args: str) -> str:
        result = helm("install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client", *args)
        assert result.returncode == 0, result.stderr
        return result.stdout.split("NOTES:", 1)[1]

    warning = "listens on port 9000, which\nnetworkPolicy.storage.ports does not list"
    assert warning in notes("--set", "storage.s3.endpoint=http://minio.storage:9000")
    assert warning not in notes("--set", "storage.s3.endpoint=http://minio.storage:9000",
                                "--set", "networkPolicy.storage.ports={9000}")  # fmt: skip
    assert "does not list" not in notes("--set", "storage.s3.endpoint=https://s3.example.org")
    assert "does not list" not in notes(*E2E)


def test_a_new_platform_secret_rolls_the_operator_which_gives_each_experiment_its_new_key(render: Any) -> None:
    def checksums(*args: str) -> set[str]:
        docs = render(*args)
        deployments = [find(docs, "Deployment", name) for name in ("gymkube-operator", "gymkube-controlplane")]
        return {d["spec"]["template"]["metadata"]["annotations"]["checksum/config"] for d in deployments}

    given = ("--set", "secrets.existingSecret=lab-secrets")
    assert len(checksums(*given)) == 1 and checksums(*given) == checksums(*given)
    assert checksums() != checksums(), "a freshly generated secret changes both checksums"
