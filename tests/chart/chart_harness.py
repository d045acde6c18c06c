"""Rendering the chart with a real helm, and reading what it renders (shared by the chart tests).

Fixtures live here rather than in a conftest.py: tests/conftest.py is imported as `conftest` by
the other test folders, and a second one would shadow it.
"""

from __future__ import annotations

import subprocess
from typing import Any

import kubernetes_validate
import pytest
import yaml
from helm import ROOT, k8s_tool

CHART = ROOT / "charts" / "gymkube"
FULL = ("-f", str(CHART / "ci" / "full-values.yaml"))
DEFAULT: tuple[str, ...] = ()
WITH_BUCKET = ("--set", "storage.s3.bucket=studies")
E2E = ("-f", str(ROOT / "scripts" / "e2e" / "values.yaml"), "--set", "publicUrl=http://localhost:8080")
RELEASE, NAMESPACE = "gymkube", "lab"
KUBERNETES_VERSIONS = ("1.30", "1.35")
Doc = dict[str, Any]


@pytest.fixture(scope="module", name="helm")
def helm_fixture(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Run helm offline with its own config folders; returns the finished process."""
    try:
        binary = k8s_tool("helm")
    except FileNotFoundError as exc:
        pytest.skip(str(exc))
    home = tmp_path_factory.mktemp("helm-home")
    (home / "kubeconfig").write_text("")
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(home),
        "KUBECONFIG": str(home / "kubeconfig"),
        **{f"HELM_{kind}_HOME": str(home / kind.lower()) for kind in ("CACHE", "CONFIG", "DATA")},
    }

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(binary), *args], capture_output=True, text=True, env=env, timeout=60)

    return run


@pytest.fixture(scope="module", name="render")
def render_fixture(helm: Any) -> Any:
    """`helm template` the chart as release `gymkube` in namespace `lab`; the parsed objects."""

    def render_(*args: str) -> list[Doc]:
        result = helm("template", RELEASE, str(CHART), "--namespace", NAMESPACE, *args)
        assert result.returncode == 0, result.stderr
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

    return render_


def find(docs: list[Doc], kind: str, name: str | None = None) -> Doc:
    """The one object of `kind` (and `name`)."""
    found = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"{len(found)} {kind} objects named {name}"
    return found[0]


def container(docs: list[Doc], deployment: str) -> Doc:
    """The single container of a Deployment."""
    (only,) = find(docs, "Deployment", deployment)["spec"]["template"]["spec"]["containers"]
    return only


def env_of(c: Doc) -> dict[str, Any]:
    """A container's env as name -> value (or valueFrom)."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}


def grants(rules: list[Doc]) -> set[tuple[str, str, str]]:
    """RBAC rules as (apiGroup, resource, verb) triples."""
    return {(g, r, v) for rule in rules for g in rule["apiGroups"] for r in rule["resources"] for v in rule["verbs"]}


def pod_specs(docs: list[Doc]) -> dict[str, Doc]:
    """Every pod spec the chart renders (Deployments and the helm test Pod), by object name."""
    specs = {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in docs if d["kind"] == "Deployment"}
    specs.update({d["metadata"]["name"]: d["spec"] for d in docs if d["kind"] == "Pod"})
    return specs


def monitor_problem(doc: Doc) -> str | None:
    """What prometheus-operator's CRD schema (as cloudcoil's models of it) finds wrong with a monitor, or None.

    The models ignore fields they do not know, so a field the CRD lacks (a misspelt key) shows as
    a difference between the object and the model's dump of it.
    """
    from cloudcoil.models.prometheus_operator import v1
    from pydantic import ValidationError

    model = {"ServiceMonitor": v1.ServiceMonitor, "PodMonitor": v1.PodMonitor}[doc["kind"]]
    try:
        parsed = model.model_validate(doc)
    except ValidationError as exc:
        return str(exc)
    dumped = parsed.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return None if dumped == doc else f"fields the CRD does not know: {doc} became {dumped}"


def invalid_objects(docs: list[Doc], version: str) -> list[str]:
    """What Kubernetes `version`'s strict schemas (prometheus-operator's for monitors) find wrong with each object."""
    problems = []
    for doc in docs:
        if doc["apiVersion"] == "monitoring.coreos.com/v1":
            problem = monitor_problem(doc)
            if problem:
                problems.append(f"{doc['kind']}/{doc['metadata']['name']}: {problem}")
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: {'.'.join(map(str, exc.path))}: {exc.message}")
    return problems
