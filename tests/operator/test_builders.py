"""Every manifest the operator makes, compared whole against what it should be (no cluster)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from typing import Any

import kubernetes_validate
import pytest
from pydantic import ValidationError

from gymkube.keys import experiment_key
from gymkube.operator.builders import (
    make_configmap,
    make_headless_service,
    make_ingress,
    make_pod_disruption_budget,
    make_pod_service,
    make_statefulset,
    spec_checksum,
)
from gymkube.operator.isolation import make_key_secret, make_network_policy
from gymkube.operator.settings import GamePodNetwork, OperatorSettings

SPEC: dict[str, Any] = {"capacity": 4, "replicas": 2, "maxReplicas": 3, "scenes": [{"type": "end"}]}
BODY: dict[str, Any] = {
    "apiVersion": "gymkube.io/v1alpha1",
    "kind": "Experiment",
    "metadata": {"name": "pilot", "namespace": "studies", "uid": "0f7c", "generation": 3, "labels": {"lab": "x"}},
    "spec": SPEC,
    "status": {"phase": "Running"},
}
LABELS = {
    "app.kubernetes.io/name": "gymkube",
    "app.kubernetes.io/component": "game-pod",
    "app.kubernetes.io/managed-by": "gymkube-operator",
    "gymkube.io/experiment": "pilot",
}


@pytest.fixture(autouse=True)
def no_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in os.environ if name.startswith("GYMKUBE_")]:
        monkeypatch.delenv(name)


PLATFORM_SECRET = "platform-secret-never-in-a-pod"
KEY = experiment_key(PLATFORM_SECRET, "studies", "pilot", "0f7c")
METADATA = "169.254.169.254/32"
CONTROL_PLANE_URL = "http://gymkube-controlplane.lab.svc:80"
NETWORK: dict[str, Any] = {
    "controlPlane": {"namespace": "lab", "podLabels": {"app.kubernetes.io/component": "controlplane"}},
    "controlPlanePort": 8000,
    "operator": {"namespace": "lab", "podLabels": {"app.kubernetes.io/component": "operator"}},
    "ingressController": {"namespace": "ingress-nginx"},
    "storage": {
        "ipBlocks": [{"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]}],
        "peers": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "s3"}}, "podSelector": {}}],
        "ports": [443, 8333],
    },
}


def plain_settings(**overrides: Any) -> OperatorSettings:
    return OperatorSettings(
        storage="s3://data/studies",
        public_url="https://study.example.org/",
        platform_secret=PLATFORM_SECRET,
        control_plane_url=CONTROL_PLANE_URL + "/",
        **overrides,
    )


def full_settings() -> OperatorSettings:
    return plain_settings(
        image="registry.example.org/gymkube:1.2",
        image_pull_policy="Always",
        allowed_images=["registry.example.org/*"],
        network_policy=NETWORK,
        pyodide_url="https://cdn.example.org/pyodide/",
        package_index_url="https://pypi.example.org/simple",
        ingress_class="nginx",
        ingress_host="study.example.org",
        drain_timeout_s=60,
        game_pod_resources={"requests": {"cpu": "1"}},
        node_selector={"pool": "games"},
    )


def test_the_configmap_holds_the_manifest_the_game_pod_reads():
    document = {
        "apiVersion": "gymkube.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": "pilot", "namespace": "studies"},
        "spec": SPEC,
    }
    assert make_configmap(BODY, plain_settings()) == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "gx-pilot", "namespace": "studies", "labels": LABELS},
        "data": {"experiment.json": json.dumps(document, indent=2, sort_keys=True)},
    }


def test_the_statefulset_runs_locked_down_game_pods_with_their_own_base_path():
    env = [
        {"name": "GYMKUBE_EXPERIMENT_FILE", "value": "/etc/gymkube/experiment/experiment.json"},
        {"name": "GYMKUBE_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "GYMKUBE_BASE_PATH", "value": "/play/studies/pilot/{ordinal}/"},
        {"name": "GYMKUBE_HOST", "value": "0.0.0.0"},
        {"name": "GYMKUBE_PORT", "value": "8100"},
        {"name": "GYMKUBE_SPOOL_DIR", "value": "/var/spool/gymkube"},
        {"name": "GYMKUBE_DRAIN_TIMEOUT_S", "value": "30"},
        {"name": "GYMKUBE_SECRET", "valueFrom": {"secretKeyRef": {"name": "gx-pilot-key", "key": "key"}}},
        {"name": "GYMKUBE_CONTROL_PLANE_URL", "value": CONTROL_PLANE_URL},
    ]
    container = {
        "name": "game-pod",
        "image": "ghcr.io/gymkube/gymkube:0.1.0",
        "imagePullPolicy": "IfNotPresent",
        "args": ["game-pod"],
        "ports": [{"name": "http", "containerPort": 8100, "protocol": "TCP"}],
        "env": env,
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 10},
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [
            {"name": "experiment", "mountPath": "/etc/gymkube/experiment", "readOnly": True},
            {"name": "spool", "mountPath": "/var/spool/gymkube"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    assert make_statefulset(BODY, plain_settings()) == {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "gx-pilot", "namespace": "studies", "labels": LABELS},
        "spec": {
            "replicas": 2,
            "serviceName": "gx-pilot",
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "RollingUpdate"},
            "selector": {"matchLabels": {"gymkube.io/experiment": "pilot"}},
            "template": {
                "metadata": {
                    "labels": LABELS,
                    "annotations": {
                        "gymkube.io/spec-checksum": spec_checksum(SPEC),
                        "gymkube.io/key-checksum": hashlib.sha256(KEY.encode()).hexdigest(),
                    },
                },
                "spec": {
                    "terminationGracePeriodSeconds": 45,
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "fsGroup": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [container],
                    "volumes": [
                        {"name": "experiment", "configMap": {"name": "gx-pilot"}},
                        {"name": "spool", "emptyDir": {}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }


def test_the_statefulset_takes_the_image_own_turn_secret_and_nodes_it_is_given():
    body = {
        **BODY,
        "spec": {**SPEC, "image": "lab/own:2", "turn": {"secretName": "lab-turn", "urls": ["turns:t:5349"]}},
    }
    manifest = make_statefulset(body, full_settings(), replicas=3)
    pod = manifest["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert manifest["spec"]["replicas"] == 3
    assert pod["terminationGracePeriodSeconds"] == 75
    assert pod["nodeSelector"] == {"pool": "games"}
    assert (container["image"], container["imagePullPolicy"]) == ("lab/own:2", "Always")
    assert container["resources"] == {"requests": {"cpu": "1"}}
    assert "envFrom" not in container
    assert container["env"][6:] == [
        {"name": "GYMKUBE_DRAIN_TIMEOUT_S", "value": "60"},
        {"name": "GYMKUBE_SECRET", "valueFrom": {"secretKeyRef": {"name": "gx-pilot-key", "key": "key"}}},
        {"name": "GYMKUBE_CONTROL_PLANE_URL", "value": CONTROL_PLANE_URL},
        {"name": "GYMKUBE_PYODIDE_URL", "value": "https://cdn.example.org/pyodide/"},
        {"name": "GYMKUBE_PACKAGE_INDEX_URL", "value": "https://pypi.example.org/simple"},
        {"name": "GYMKUBE_TURN_URLS", "value": '["turns:t:5349"]'},
        {"name": "GYMKUBE_TURN_SECRET_FILE", "value": "/var/run/gymkube/turn/secret"},
    ]
    assert container["volumeMounts"][-1] == {"name": "turn", "mountPath": "/var/run/gymkube/turn", "readOnly": True}
    assert pod["volumes"][-1] == {
        "name": "turn",
        "secret": {"secretName": "lab-turn", "items": [{"key": "secret", "path": "secret"}], "optional": True},
    }


def test_static_turn_credentials_of_the_experiment_are_mounted_as_files_into_its_pods_only():
    turn = {"credentialsSecret": "metered", "urls": ["turn:global.relay.metered.ca:80"]}
    manifest = make_statefulset({**BODY, "spec": {**SPEC, "turn": turn}}, full_settings())
    pod = manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["env"][-2:] == [
        {"name": "GYMKUBE_TURN_URLS", "value": '["turn:global.relay.metered.ca:80"]'},
        {"name": "GYMKUBE_TURN_CREDENTIALS_DIR", "value": "/var/run/gymkube/turn"},
    ]
    assert "GYMKUBE_TURN_SECRET_FILE" not in {v["name"] for v in container["env"]}
    assert container["volumeMounts"][-1] == {"name": "turn", "mountPath": "/var/run/gymkube/turn", "readOnly": True}
    items = [{"key": "username", "path": "username"}, {"key": "credential", "path": "credential"}]
    assert pod["volumes"][-1] == {"name": "turn", "secret": {"secretName": "metered", "items": items, "optional": True}}


def test_a_game_pod_gets_neither_the_platform_secret_nor_storage_credentials_nor_the_platforms_turn_secret():
    manifest = make_statefulset(BODY, full_settings())
    text = json.dumps(manifest)
    assert PLATFORM_SECRET not in text and KEY not in text  # the key is read from its Secret by the kubelet
    (container,) = manifest["spec"]["template"]["spec"]["containers"]
    names = {variable["name"] for variable in container["env"]}
    assert not names & {"GYMKUBE_STORAGE", "GYMKUBE_S3_ENDPOINT", "GYMKUBE_TURN_SECRET_FILE", "GYMKUBE_TURN_URLS"}
    assert "envFrom" not in container and not [v for v in manifest["spec"]["template"]["spec"]["volumes"]
                                               if "secret" in v]  # fmt: skip
    secret_refs = [v["valueFrom"]["secretKeyRef"] for v in container["env"] if "secretKeyRef" in v.get("valueFrom", {})]
    assert secret_refs == [{"name": "gx-pilot-key", "key": "key"}]


def test_the_key_secret_holds_the_key_the_control_plane_derives_for_this_experiment_only():
    assert make_key_secret(BODY, plain_settings()) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "gx-pilot-key", "namespace": "studies", "labels": LABELS},
        "type": "Opaque",
        "data": {"key": base64.b64encode(KEY.encode()).decode()},
    }

    def key(namespace: str, uid: str) -> str:
        body = {**BODY, "metadata": {**BODY["metadata"], "namespace": namespace, "uid": uid}}
        return base64.b64decode(make_key_secret(body, plain_settings())["data"]["key"]).decode()

    assert key("studies", "0f7c") == KEY
    assert key("other-lab", "0f7c") != KEY, "the same name in another namespace has another key"
    assert key("studies", "1a2b") != KEY, "deleted and created again: another key"


def test_a_spec_change_rolls_the_pods_but_scaling_and_pausing_do_not():
    assert spec_checksum({**SPEC, "capacity": 5}) != spec_checksum(SPEC)
    for lifecycle in ({"paused": True}, {"replicas": 3}, {"maxReplicas": 5}, {"targetParticipants": 100}):
        assert spec_checksum({**SPEC, **lifecycle}) == spec_checksum(SPEC)


def test_the_services_give_the_pods_one_name_together_and_one_each():
    assert make_headless_service(BODY, plain_settings()) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "gx-pilot", "namespace": "studies", "labels": LABELS},
        "spec": {
            "clusterIP": "None",
            "selector": {"gymkube.io/experiment": "pilot"},
            "ports": [{"name": "http", "port": 8100, "targetPort": "http"}],
        },
    }
    assert make_pod_service(BODY, plain_settings(), 1) == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "gx-pilot-1", "namespace": "studies", "labels": LABELS},
        "spec": {
            "selector": {"statefulset.kubernetes.io/pod-name": "gx-pilot-1"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


def test_the_disruption_budget_lets_node_drains_take_one_game_pod_at_a_time():
    assert make_pod_disruption_budget(BODY, plain_settings()) == {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "gx-pilot", "namespace": "studies", "labels": LABELS},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"gymkube.io/experiment": "pilot"}}},
    }


def test_the_ingress_routes_each_ordinal_path_to_its_pod():
    def path(ordinal: int) -> dict[str, Any]:
        return {
            "path": f"/play/studies/pilot/{ordinal}/",
            "pathType": "Prefix",
            "backend": {"service": {"name": f"gx-pilot-{ordinal}", "port": {"number": 80}}},
        }

    assert make_ingress(BODY, full_settings()) == {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "gx-pilot", "namespace": "studies", "labels": LABELS},
        "spec": {
            "ingressClassName": "nginx",
            "rules": [{"host": "study.example.org", "http": {"paths": [path(0), path(1)]}}],
        },
    }
    assert make_ingress(BODY, plain_settings(ingress_class="traefik"), replicas=3)["spec"] == {
        "ingressClassName": "traefik",
        "rules": [{"http": {"paths": [path(0), path(1), path(2)]}}],
    }


def test_the_ingress_carries_the_annotations_a_controller_needs_for_long_websockets():
    timeouts = {"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600"}
    ingress = make_ingress(BODY, plain_settings(ingress_class="nginx", ingress_annotations=timeouts))
    assert ingress["metadata"] == {
        "name": "gx-pilot",
        "namespace": "studies",
        "labels": LABELS,
        "annotations": timeouts,
    }


def test_the_network_policy_lets_game_pods_talk_only_to_dns_the_control_plane_and_storage():
    def pods(namespace: str, **labels: str) -> dict[str, Any]:
        return {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
            "podSelector": {"matchLabels": labels} if labels else {},
        }

    control_plane = pods("lab", **{"app.kubernetes.io/component": "controlplane"})
    operator = pods("lab", **{"app.kubernetes.io/component": "operator"})
    public = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", METADATA]
    dns = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    assert make_network_policy(BODY, GamePodNetwork.model_validate(NETWORK)) == {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "gx-pilot", "namespace": "studies", "labels": LABELS},
        "spec": {
            "podSelector": {"matchLabels": {"gymkube.io/experiment": "pilot"}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {"from": [pods("ingress-nginx"), control_plane, operator], "ports": [{"protocol": "TCP", "port": 8100}]}
            ],
            "egress": [
                {"to": [{"namespaceSelector": {}}, {"ipBlock": {"cidr": "0.0.0.0/0", "except": [METADATA]}}],
                 "ports": dns},
                {"to": [control_plane], "ports": [{"protocol": "TCP", "port": 8000}]},
                {"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": public}}, NETWORK["storage"]["peers"][0]],
                 "ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 8333}]},
            ],
        },
    }  # fmt: skip


@pytest.mark.parametrize(
    ("block", "rendered"),
    [
        ({"cidr": "0.0.0.0/0"}, {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}),
        ({"cidr": "169.254.0.0/16"}, {"cidr": "169.254.0.0/16", "except": ["169.254.169.254/32"]}),
        ({"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}, {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16"]}),
        ({"cidr": "203.0.113.0/24"}, {"cidr": "203.0.113.0/24"}),
        ({"cidr": "::/0"}, {"cidr": "::/0", "except": ["fd00:ec2::254/128"]}),
    ],
)
def test_game_pods_never_reach_the_cloud_metadata_endpoint_whatever_the_storage_ranges_say(
    block: dict[str, Any], rendered: dict[str, Any]
):
    network = GamePodNetwork.model_validate({**NETWORK, "storage": {"ipBlocks": [block], "ports": [443]}})
    (storage,) = make_network_policy(BODY, network)["spec"]["egress"][2]["to"]
    assert storage == {"ipBlock": rendered}


@pytest.mark.parametrize(
    ("storage", "problem"),
    [
        ({"ipBlocks": [{"cidr": "169.254.169.254/32"}], "ports": [80]}, "cloud metadata endpoint"),
        ({"ipBlocks": [{"cidr": "10.0.0.0/8", "except": ["192.168.0.0/16"]}], "ports": [443]}, "strictly inside"),
        ({"ipBlocks": [{"cidr": "10.0.0.1/8"}], "ports": [443]}, "not a valid IPv4 or IPv6 network"),
        ({"ipBlocks": [], "ports": [0]}, "between 1 and 65535"),
        ({"ipBlocks": [], "ports": [443], "typo": 1}, "Extra inputs"),
    ],
)
def test_network_values_the_api_server_would_refuse_or_that_open_the_metadata_endpoint_stop_the_operator(
    storage: dict[str, Any], problem: str
):
    with pytest.raises(ValidationError, match=problem):
        plain_settings(network_policy={**NETWORK, "storage": storage})


def test_without_storage_ranges_or_peers_game_pods_get_no_storage_rule_rather_than_an_open_one():
    network = GamePodNetwork.model_validate({**NETWORK, "storage": {"ports": [443]}})
    egress = make_network_policy(BODY, network)["spec"]["egress"]
    assert len(egress) == 2 and all(rule["to"] for rule in egress)  # a rule without `to` would allow anything


@pytest.mark.parametrize("version", ["1.30", "1.35"])
def test_every_manifest_the_operator_makes_is_valid_kubernetes(version: str):
    body = {**BODY, "spec": {**SPEC, "turn": {"secretName": "lab-turn", "urls": ["turns:t:5349"]}}}
    settings = full_settings()
    assert settings.network_policy is not None
    manifests = [
        make_key_secret(body, settings),
        make_network_policy(body, settings.network_policy),
        make_configmap(body, settings),
        make_statefulset(body, settings, 2),
        make_headless_service(body, settings),
        make_pod_service(body, settings, 1),
        make_pod_disruption_budget(body, settings),
        make_ingress(body, settings, 2),
    ]
    for manifest in manifests:
        kubernetes_validate.validate(manifest, version, strict=True)
