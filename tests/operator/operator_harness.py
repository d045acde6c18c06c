"""The operator test harness: an emulated cluster set up for it, the operator under KopfRunner, polling.

Context managers rather than fixtures, so that test modules use them without a second conftest.py
(tests/conftest.py is imported as `conftest` by the other test folders).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import kopf
import pytest
import yaml
from k8s_emulator import EmulatedCluster
from kopf.testing import KopfRunner

import gymkube.operator
from gymkube.operator.settings import get_settings

PUBLIC_URL = "https://study.example.org"
PLATFORM_SECRET = "the-platform-secret-of-this-cluster"
CONTROL_PLANE_URL = "http://gymkube-controlplane.studies.svc:80"
ALLOWED_IMAGES = ["ghcr.io/gymkube/gymkube:*", "registry.example.org/lab-a/*"]
NETWORK = {
    "controlPlane": {"namespace": "studies", "podLabels": {"app.kubernetes.io/component": "controlplane"}},
    "operator": {"namespace": "studies", "podLabels": {"app.kubernetes.io/component": "operator"}},
    "ingressController": {"namespace": "ingress-nginx"},
    "storage": {"ipBlocks": [{"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}], "ports": [443]},
}
EXPERIMENTS = "/apis/gymkube.io/v1alpha1/namespaces/default/experiments"
STATEFULSETS = "/apis/apps/v1/namespaces/default/statefulsets"
SERVICES = "/api/v1/namespaces/default/services"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
PODS = "/api/v1/namespaces/default/pods"
PDBS = "/apis/policy/v1/namespaces/default/poddisruptionbudgets"
INGRESSES = "/apis/networking.k8s.io/v1/namespaces/default/ingresses"
NETWORK_POLICIES = "/apis/networking.k8s.io/v1/namespaces/default/networkpolicies"
SECRETS = "/api/v1/namespaces/default/secrets"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
T = TypeVar("T")


def wait_for(check: Callable[[], T], what: str, timeout_s: float = 15.0) -> T:
    """Poll until `check()` is truthy (returning it), or fail naming what never happened."""
    deadline = time.monotonic() + timeout_s
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.05)
    return result


def cartpole(**spec: Any) -> dict[str, Any]:
    """examples/cartpole.yaml as an Experiment body, with spec overrides."""
    document: dict[str, Any] = yaml.safe_load((EXAMPLES / "cartpole.yaml").read_text())
    document["spec"].update(spec)
    return document


def experiment_key_in_cluster(cluster: EmulatedCluster, name: str, namespace: str = "default") -> str:
    """The key a game pod of the experiment gets: its key Secret's value, as the kubelet puts it in the pod's env."""
    secret = wait_for(lambda: cluster.get(f"/api/v1/namespaces/{namespace}/secrets/gx-{name}-key"), "the key Secret")
    return base64.b64decode(secret["data"]["key"]).decode()


def fast_kopf_settings() -> kopf.OperatorSettings:
    """kopf tuned to react within a fraction of a second and stop at once."""
    settings = kopf.OperatorSettings()
    settings.watching.reconnect_backoff = 0.05
    settings.networking.request_timeout = 5
    settings.networking.error_backoffs = [0.1, 0.2, 0.5]
    settings.queueing.idle_timeout = 0.5
    settings.queueing.exit_timeout = 1
    settings.background.cancellation_polling = 0.1
    # kopf's last resort SIGKILLs its thread, which is the whole pytest process: KopfRunner's own
    # join timeout bounds the exit instead.
    settings.process.ultimate_exiting_timeout = None
    return settings


@contextmanager
def emulated_cluster(tmp_path: Path) -> Iterator[EmulatedCluster]:
    """An emulated cluster with the gymkube CRD; $KUBECONFIG and the operator's settings point at it."""
    with EmulatedCluster(tmp_path / "kubeconfig") as k8s, pytest.MonkeyPatch.context() as env:
        env.setenv("KUBECONFIG", str(k8s.kubeconfig))
        env.setenv("GYMKUBE_STORAGE", "s3://gymkube-data/studies")
        env.setenv("GYMKUBE_PLATFORM_SECRET", PLATFORM_SECRET)
        env.setenv("GYMKUBE_CONTROL_PLANE_URL", CONTROL_PLANE_URL)
        env.setenv("GYMKUBE_NETWORK_POLICY", json.dumps(NETWORK))
        env.setenv("GYMKUBE_ALLOWED_IMAGES", json.dumps(ALLOWED_IMAGES))
        env.setenv("GYMKUBE_REFUSED_RETRY_S", "0.5")
        env.setenv("GYMKUBE_PUBLIC_URL", PUBLIC_URL)
        env.setenv("GYMKUBE_INGRESS_CLASS", "nginx")
        env.setenv("GYMKUBE_LOAD_INTERVAL_S", "0.2")
        get_settings.cache_clear()
        try:
            yield k8s
        finally:
            get_settings.cache_clear()


def operator_runner(*, reraise: bool = True) -> KopfRunner:
    """The operator's handlers under KopfRunner, with a fresh registry (handlers.py registers into it)."""
    handlers = str(Path(gymkube.operator.__file__).parent / "handlers.py")  # run as a script: fresh handlers
    args = ["run", "--all-namespaces", "--standalone", handlers]
    registry = kopf.OperatorRegistry()
    return KopfRunner(args, registry=registry, settings=fast_kopf_settings(), timeout=15, reraise=reraise)


@contextmanager
def running_operator() -> Iterator[KopfRunner]:
    """The operator under KopfRunner until the block ends, checked on exit."""
    with operator_runner() as runner:
        yield runner
    assert runner.exception is None, runner.output
    assert runner.exit_code == 0, runner.output
    assert "Traceback" not in runner.output, runner.output
