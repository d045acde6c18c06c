"""Every manifest the operator makes, compared whole against what it should be (no cluster)."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

from gymkube.operator.builders import (
    make_configmap,
    make_headless_service,
    make_ingress,
    make_pod_disruption_budget,
    make_pod_service,
    make_statefulset,
    spec_checksum,
)
from gymkube.operator.settings import OperatorSettings

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


def plain_settings(**overrides: Any) -> OperatorSettings:
    return OperatorSettings(storage="s3://data/studies", public_url="https://study.example.org/", **overrides)


def full_settings() -> OperatorSettings:
    return plain_settings(
        image="registry.example.org/gymkube:1.2",
        image_pull_policy="Always",
        storage_secret="s3-credentials",
        s3_endpoint="http://seaweedfs:8333",
        token_secret="tokens",
        turn_secret="coturn",
        turn_urls=["turn:turn.example.org:3478"],
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
        {"name": "GYMKUBE_BASE_PATH", "value": "/play/pilot/{ordinal}/"},
        {"name": "GYMKUBE_HOST", "value": "0.0.0.0"},
        {"name": "GYMKUBE_PORT", "value": "8100"},
        {"name": "GYMKUBE_STORAGE", "value": "s3://data/studies"},
        {"name": "GYMKUBE_SPOOL_DIR", "value": "/var/spool/gymkube"},
        {"name": "GYMKUBE_DRAIN_TIMEOUT_S", "value": "30"},
        {
            "name": "GYMKUBE_SECRET",
            "valueFrom": {"secretKeyRef": {"name": "gymkube-secrets", "key": "participant-token-secret"}},
        },
        {"name": "GYMKUBE_TURN_URLS", "value": "[]"},
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
                "metadata": {"labels": LABELS, "annotations": {"gymkube.io/spec-checksum": spec_checksum(SPEC)}},
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


def test_the_statefulset_takes_the_image_turn_storage_credentials_and_nodes_it_is_given():
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
    assert container["envFrom"] == [{"secretRef": {"name": "s3-credentials"}}]
    assert container["env"][7:] == [
        {"name": "GYMKUBE_DRAIN_TIMEOUT_S", "value": "60"},
        {
            "name": "GYMKUBE_SECRET",
            "valueFrom": {"secretKeyRef": {"name": "tokens", "key": "participant-token-secret"}},
        },
        {"name": "GYMKUBE_TURN_URLS", "value": '["turns:t:5349"]'},
        {"name": "GYMKUBE_S3_ENDPOINT", "value": "http://seaweedfs:8333"},
        {"name": "GYMKUBE_PYODIDE_URL", "value": "https://cdn.example.org/pyodide/"},
        {"name": "GYMKUBE_PACKAGE_INDEX_URL", "value": "https://pypi.example.org/simple"},
        {"name": "GYMKUBE_TURN_SECRET_FILE", "value": "/var/run/gymkube/turn/secret"},
    ]
    assert container["volumeMounts"][-1] == {"name": "turn", "mountPath": "/var/run/gymkube/turn", "readOnly": True}
    assert pod["volumes"][-1] == {
        "name": "turn",
        "secret": {"secretName": "lab-turn", "items": [{"key": "secret", "path": "secret"}], "optional": True},
    }


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
            "path": f"/play/pilot/{ordinal}/",
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
