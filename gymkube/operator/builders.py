"""Pure builders of the Kubernetes objects an Experiment becomes (no API calls; tested as whole dicts).

The game pods run as a StatefulSet rather than a Deployment because each pod needs a stable
address of its own behind the one Ingress: the control plane redirects a participant to
`/play/NAMESPACE/NAME/<ordinal>/`, and a StatefulSet names its pods by ordinal (`gx-NAME-0`,
`gx-NAME-1`, ...) so that a per-pod Service (selecting `statefulset.kubernetes.io/pod-name`) can
route that path. The namespace is part of the path so that Experiments of one name in two
namespaces never share a path on the shared host (one could otherwise receive the other's
participants and their tokens).

Game pods hold no credential of the platform's: their experiment's own key (a Secret of its own,
see isolation.py), and the control plane's in-cluster URL, which they ask for signed storage URLs
and TURN credentials. Only an experiment's own TURN Secret (`spec.turn.secretName`, a shared secret, or
`spec.turn.credentialsSecret`, static credentials; admitted by label) is mounted into its pods.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from gymkube.keys import experiment_key
from gymkube.operator.settings import OperatorSettings

GROUP = "gymkube.io"
VERSION = "v1alpha1"
PLURAL = "experiments"
HTTP_PORT = 8100
EXPERIMENT_DIR = "/etc/gymkube/experiment"
SPOOL_DIR = "/var/spool/gymkube"
TURN_DIR = "/var/run/gymkube/turn"
CHECKSUM_ANNOTATION = "gymkube.io/spec-checksum"
KEY_CHECKSUM_ANNOTATION = "gymkube.io/key-checksum"
KEY_SECRET_KEY = "key"
"""The key of the experiment's key Secret (`gx-NAME-key`) that holds its key."""
EXPERIMENT_LABEL = "gymkube.io/experiment"
MANAGED_BY = ("app.kubernetes.io/managed-by", "gymkube-operator")
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
# A StatefulSet's name must leave room for its pods' controller-revision-hash label (63 chars).
MAX_NAME_LENGTH = 49
# Spec fields the operator acts on itself; changing them must not restart (and drain) the game pods.
LIFECYCLE_FIELDS = ("replicas", "maxReplicas", "targetParticipants", "paused")

Body = Mapping[str, Any]
Manifest = dict[str, Any]


def child_name(body: Body) -> str:
    """`gx-NAME`: the ConfigMap, StatefulSet, headless Service, PDB and Ingress of an experiment."""
    return f"gx-{body['metadata']['name']}"


def key_secret_name(body: Body) -> str:
    """`gx-NAME-key`: the Secret holding the experiment's own key (never a pod Service: those end in a digit)."""
    return f"{child_name(body)}-key"


def public_path(body: Body, ordinal: int | str) -> str:
    """`/play/NAMESPACE/NAME/<ordinal>/`: where participants reach one game pod on the shared host."""
    return f"/play/{body['metadata']['namespace']}/{body['metadata']['name']}/{ordinal}/"


def pod_name(body: Body, ordinal: int) -> str:
    """`gx-NAME-<ordinal>`: a game pod, and the Service that routes to it alone."""
    return f"{child_name(body)}-{ordinal}"


def labels(body: Body) -> dict[str, str]:
    """The labels every child carries."""
    return {
        "app.kubernetes.io/name": "gymkube",
        "app.kubernetes.io/component": "game-pod",
        MANAGED_BY[0]: MANAGED_BY[1],
        EXPERIMENT_LABEL: body["metadata"]["name"],
    }


def selector(body: Body) -> dict[str, str]:
    """The label selector of the experiment's game pods."""
    return {EXPERIMENT_LABEL: body["metadata"]["name"]}


def pod_selector(body: Body) -> str:
    """The same selector as a `labelSelector` query value."""
    return ",".join(f"{key}={value}" for key, value in selector(body).items())


def experiment_document(body: Body) -> Manifest:
    """The manifest a game pod reads: apiVersion, kind, name, namespace and spec."""
    return {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "metadata": {"name": body["metadata"]["name"], "namespace": body["metadata"]["namespace"]},
        "spec": copy.deepcopy(dict(body["spec"])),
    }


def experiment_key_of(body: Body, settings: OperatorSettings) -> str:
    """The experiment's own key, derived as the control plane derives it (gymkube/keys.py)."""
    meta = body["metadata"]
    return experiment_key(settings.platform_secret.get_secret_value(), meta["namespace"], meta["name"], meta["uid"])


def spec_checksum(spec: Mapping[str, Any]) -> str:
    """sha256 of the spec as canonical JSON, without the fields that only the operator acts on."""
    pod_facing = {key: value for key, value in spec.items() if key not in LIFECYCLE_FIELDS}
    return hashlib.sha256(json.dumps(pod_facing, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def child_metadata(body: Body, name: str) -> Manifest:
    """Name, namespace and labels of a child."""
    return {"name": name, "namespace": body["metadata"]["namespace"], "labels": labels(body)}


def make_configmap(body: Body, settings: OperatorSettings) -> Manifest:
    """ConfigMap `gx-NAME` holding `experiment.json`."""
    document = json.dumps(experiment_document(body), indent=2, sort_keys=True)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": child_metadata(body, child_name(body)),
        "data": {"experiment.json": document},
    }


def own_turn_secret(body: Body) -> str | None:
    """The experiment's own TURN Secret (`spec.turn.secretName` or `credentialsSecret`); the platform's stays with
    the control plane."""
    turn = body["spec"].get("turn") or {}
    name: str | None = turn.get("secretName") or turn.get("credentialsSecret")
    return name


def _turn_keys(body: Body) -> list[str]:
    """The keys of the experiment's TURN Secret its pods read: a shared secret, or static credentials."""
    return ["secret"] if (body["spec"].get("turn") or {}).get("secretName") else ["username", "credential"]


def _env(body: Body, settings: OperatorSettings) -> list[Manifest]:
    env: list[Manifest] = [
        {"name": "GYMKUBE_EXPERIMENT_FILE", "value": f"{EXPERIMENT_DIR}/experiment.json"},
        {"name": "GYMKUBE_POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "GYMKUBE_BASE_PATH", "value": public_path(body, "{ordinal}")},
        {"name": "GYMKUBE_HOST", "value": "0.0.0.0"},
        {"name": "GYMKUBE_PORT", "value": str(HTTP_PORT)},
        {"name": "GYMKUBE_SPOOL_DIR", "value": SPOOL_DIR},
        {"name": "GYMKUBE_DRAIN_TIMEOUT_S", "value": str(settings.drain_timeout_s)},
        {
            "name": "GYMKUBE_SECRET",
            "valueFrom": {"secretKeyRef": {"name": key_secret_name(body), "key": KEY_SECRET_KEY}},
        },
        {"name": "GYMKUBE_CONTROL_PLANE_URL", "value": settings.control_plane_url},
    ]
    if settings.pyodide_url:
        env.append({"name": "GYMKUBE_PYODIDE_URL", "value": settings.pyodide_url})
    if settings.package_index_url:
        env.append({"name": "GYMKUBE_PACKAGE_INDEX_URL", "value": settings.package_index_url})
    if own_turn_secret(body):  # the pod hands out TURN credentials itself, for the experiment's own TURN servers
        urls = (body["spec"].get("turn") or {}).get("urls") or []
        env.append({"name": "GYMKUBE_TURN_URLS", "value": json.dumps(list(urls))})
        if _turn_keys(body) == ["secret"]:
            env.append({"name": "GYMKUBE_TURN_SECRET_FILE", "value": f"{TURN_DIR}/secret"})
        else:
            env.append({"name": "GYMKUBE_TURN_CREDENTIALS_DIR", "value": TURN_DIR})
    return env


def _container(body: Body, settings: OperatorSettings) -> Manifest:
    mounts: list[Manifest] = [
        {"name": "experiment", "mountPath": EXPERIMENT_DIR, "readOnly": True},
        {"name": "spool", "mountPath": SPOOL_DIR},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if own_turn_secret(body):
        mounts.append({"name": "turn", "mountPath": TURN_DIR, "readOnly": True})
    return {
        "name": "game-pod",
        "image": body["spec"].get("image") or settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "args": ["game-pod"],
        "ports": [{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        "env": _env(body, settings),
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "initialDelaySeconds": 10},
        "resources": copy.deepcopy(settings.game_pod_resources),
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": mounts,
    }


def _volumes(body: Body, settings: OperatorSettings) -> list[Manifest]:
    volumes: list[Manifest] = [
        {"name": "experiment", "configMap": {"name": child_name(body)}},
        {"name": "spool", "emptyDir": {}},
        {"name": "tmp", "emptyDir": {}},
    ]
    turn_secret = own_turn_secret(body)
    if turn_secret:
        items = [{"key": key, "path": key} for key in _turn_keys(body)]
        volumes.append({"name": "turn", "secret": {"secretName": turn_secret, "items": items, "optional": True}})
    return volumes


def make_statefulset(body: Body, settings: OperatorSettings, replicas: int | None = None) -> Manifest:
    """StatefulSet `gx-NAME`: the game pods (`replicas` from the scaling logic; default spec.replicas)."""
    pod_spec: Manifest = {
        "terminationGracePeriodSeconds": settings.drain_timeout_s + 15,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "fsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [_container(body, settings)],
        "volumes": _volumes(body, settings),
    }
    if settings.node_selector:
        pod_spec["nodeSelector"] = dict(settings.node_selector)
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": child_metadata(body, child_name(body)),
        "spec": {
            "replicas": body["spec"].get("replicas", 1) if replicas is None else replicas,
            "serviceName": child_name(body),
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "RollingUpdate"},
            "selector": {"matchLabels": selector(body)},
            "template": {
                "metadata": {
                    "labels": labels(body),
                    "annotations": {
                        CHECKSUM_ANNOTATION: spec_checksum(body["spec"]),
                        # A new platform secret gives the experiment a new key: the pods must restart to read it.
                        KEY_CHECKSUM_ANNOTATION: hashlib.sha256(experiment_key_of(body, settings).encode()).hexdigest(),
                    },
                },
                "spec": pod_spec,
            },
        },
    }


def make_headless_service(body: Body, settings: OperatorSettings) -> Manifest:
    """Headless Service `gx-NAME`, the StatefulSet's governing service."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": child_metadata(body, child_name(body)),
        "spec": {
            "clusterIP": "None",
            "selector": selector(body),
            "ports": [{"name": "http", "port": HTTP_PORT, "targetPort": "http"}],
        },
    }


def make_pod_service(body: Body, settings: OperatorSettings, ordinal: int) -> Manifest:
    """Service `gx-NAME-<ordinal>`: port 80 to that one game pod."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": child_metadata(body, pod_name(body, ordinal)),
        "spec": {
            "selector": {POD_NAME_LABEL: pod_name(body, ordinal)},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


def make_pod_disruption_budget(body: Body, settings: OperatorSettings) -> Manifest:
    """PodDisruptionBudget `gx-NAME`: node drains take game pods one at a time."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": child_metadata(body, child_name(body)),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector(body)}},
    }


def make_ingress(body: Body, settings: OperatorSettings, replicas: int | None = None) -> Manifest:
    """Ingress `gx-NAME`: `/play/NAMESPACE/NAME/<i>/` to Service `gx-NAME-<i>` for every ordinal."""
    count = body["spec"].get("replicas", 1) if replicas is None else replicas
    paths = [
        {
            "path": public_path(body, ordinal),
            "pathType": "Prefix",
            "backend": {"service": {"name": pod_name(body, ordinal), "port": {"number": 80}}},
        }
        for ordinal in range(count)
    ]
    rule: Manifest = {"http": {"paths": paths}}
    if settings.ingress_host:
        rule = {"host": settings.ingress_host, **rule}
    metadata = child_metadata(body, child_name(body))
    if settings.ingress_annotations:
        metadata["annotations"] = {**metadata.get("annotations", {}), **settings.ingress_annotations}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": metadata,
        "spec": {"ingressClassName": settings.ingress_class, "rules": [rule]},
    }
