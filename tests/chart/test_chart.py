"""The Helm chart: lint, render, validate against Kubernetes' schemas, check what it grants and runs."""

from __future__ import annotations

import base64
import http.server
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
    WITH_BUCKET,
    Doc,
    container,
    env_of,
    find,
    grants,
    helm_fixture,
    invalid_objects,
    pod_specs,
    render_fixture,
)
from helm import ROOT

from gymkube.operator.settings import OperatorSettings
from gymkube.platform.settings import PlatformSettings

READ = {"get", "list", "watch"}
MANAGE = READ | {"create", "patch", "update", "delete"}
OPERATOR_IN_NAMESPACE = (
    {("gymkube.io", "experiments", v) for v in READ | {"patch", "update"}}
    | {("gymkube.io", "experiments/status", v) for v in ("get", "patch", "update")}
    | {(g, r, v) for g, r in [("apps", "statefulsets"), ("", "services"), ("", "configmaps"),
                              ("policy", "poddisruptionbudgets"), ("networking.k8s.io", "ingresses")] for v in MANAGE}
    | {("", "pods", v) for v in READ}
    | {("", "events", v) for v in ("create", "patch")}
    | {("", "secrets", v) for v in ("get", "create", "patch")}  # each experiment's key; the TURN label
    | {("networking.k8s.io", "networkpolicies", v) for v in ("get", "create", "patch")}
)  # fmt: skip
OPERATOR_CLUSTER_ONLY = {("", "namespaces", "list"), ("", "namespaces", "watch")} | {
    ("apiextensions.k8s.io", "customresourcedefinitions", v) for v in READ
}
CONTROL_PLANE = (
    {("gymkube.io", "experiments", v) for v in MANAGE}
    | {("gymkube.io", "experiments/status", "get")}
    | {("", "pods", v) for v in READ}
    | {("discovery.k8s.io", "endpointslices", v) for v in READ}
    | {("", "secrets", v) for v in ("get", "list", "create", "delete")}  # researcher tokens, a Secret each
    | {("", "configmaps", v) for v in ("get", "create", "patch")}  # arrival numbers, shared by the replicas
)


@pytest.mark.parametrize("values", [DEFAULT, FULL, E2E], ids=["default", "full", "kind-e2e"])
def test_lint_strict_passes(helm: Any, values: tuple[str, ...]) -> None:
    result = helm("lint", "--strict", str(CHART), *values)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("values", [DEFAULT, FULL, E2E], ids=["default", "full", "kind-e2e"])
def test_every_rendered_object_is_valid_kubernetes(render: Any, values: tuple[str, ...], version: str) -> None:
    assert not invalid_objects(render(*values), version)


def test_kind_e2e_seaweedfs_manifest_is_valid_kubernetes() -> None:
    docs = list(yaml.safe_load_all((ROOT / "scripts" / "e2e" / "seaweedfs.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["Deployment", "Service"]
    assert not invalid_objects(docs, KUBERNETES_VERSIONS[-1])


def test_default_values_render_the_platform_and_nothing_optional(render: Any) -> None:
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in render())
    assert kinds == sorted([
        ("ClusterRole", "lab-gymkube-operator"), ("ClusterRoleBinding", "lab-gymkube-operator"),
        ("Deployment", "gymkube-controlplane"), ("Deployment", "gymkube-operator"),
        ("NetworkPolicy", "gymkube-controlplane"), ("NetworkPolicy", "gymkube-operator"),
        ("PodDisruptionBudget", "gymkube-controlplane"), ("Pod", "gymkube-controlplane-test"),
        ("Role", "gymkube-controlplane"),
        ("RoleBinding", "gymkube-controlplane"), ("Secret", "gymkube-secrets"),
        ("Service", "gymkube-controlplane"), ("ServiceAccount", "gymkube-controlplane"),
        ("ServiceAccount", "gymkube-operator"),
    ])  # fmt: skip


def test_operator_cluster_role_grants_exactly_what_kopf_and_the_children_need(render: Any) -> None:
    role = find(render(), "ClusterRole")
    assert grants(role["rules"]) == OPERATOR_IN_NAMESPACE | OPERATOR_CLUSTER_ONLY
    binding = find(render(), "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gymkube-operator", "namespace": NAMESPACE}]


def test_watch_namespace_grants_a_role_in_that_namespace_only(render: Any) -> None:
    docs = render("--set", "operator.watchNamespace=studies")
    assert not [d for d in docs if d["kind"].startswith("Cluster")]
    role = find(docs, "Role", "gymkube-operator")
    assert role["metadata"]["namespace"] == "studies"
    assert grants(role["rules"]) == OPERATOR_IN_NAMESPACE
    binding = find(docs, "RoleBinding", "gymkube-operator")
    assert binding["metadata"]["namespace"] == "studies"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gymkube-operator", "namespace": NAMESPACE}]
    assert env_of(container(docs, "gymkube-operator"))["GYMKUBE_WATCH_NAMESPACE"] == "studies"


def test_control_plane_role_grants_exactly_experiments_pod_discovery_and_its_own_state(render: Any) -> None:
    docs = render()
    role = find(docs, "Role", "gymkube-controlplane")
    assert role["metadata"]["namespace"] == NAMESPACE
    assert grants(role["rules"]) == CONTROL_PLANE
    binding = find(docs, "RoleBinding", "gymkube-controlplane")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "gymkube-controlplane", "namespace": NAMESPACE}]


@pytest.mark.parametrize("values", [DEFAULT, FULL], ids=["default", "full"])
def test_no_rule_uses_a_wildcard(render: Any, values: tuple[str, ...]) -> None:
    rules = [r for d in render(*values) if d["kind"] in ("Role", "ClusterRole") for r in d["rules"]]
    assert rules and not [r for r in rules if "*" in r["apiGroups"] + r["resources"] + r["verbs"]]


@pytest.mark.parametrize("values", [DEFAULT, FULL], ids=["default", "full"])
def test_every_container_runs_as_non_root_with_a_read_only_root(render: Any, values: tuple[str, ...]) -> None:
    specs = pod_specs(render(*values))
    assert set(specs) == {"gymkube-controlplane", "gymkube-operator", "gymkube-controlplane-test"}
    for name, spec in specs.items():
        pod = spec["securityContext"]
        for c in spec["containers"]:
            ctx = {**pod, **c.get("securityContext", {})}
            assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] == 10001, name
            assert ctx["readOnlyRootFilesystem"] is True, name
            assert ctx["allowPrivilegeEscalation"] is False, name
            assert ctx["capabilities"] == {"drop": ["ALL"]}, name


def test_every_value_in_values_yaml_has_a_comment_above_it() -> None:
    lines = (CHART / "values.yaml").read_text().splitlines()
    keys = [(i, line) for i, line in enumerate(lines) if re.match(r"^\s*[\w.-]+:", line)]
    assert len(keys) > 40
    undocumented = [line.strip() for i, line in keys if not lines[i - 1].lstrip().startswith("#")]
    assert not undocumented


def test_the_schema_and_values_yaml_describe_the_same_values() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    values = yaml.safe_load((CHART / "values.yaml").read_text())

    def walk(node: Doc, value: Any, path: str) -> None:
        if "$ref" in node:
            node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
        if "properties" in node and isinstance(value, dict) and value:  # `affinity: {}` is a pod-spec field
            assert set(node["properties"]) == set(value), path or "top level"
            assert node["additionalProperties"] is False, path
            for key, child in value.items():
                walk(node["properties"][key], child, f"{path}.{key}")

    walk(schema, values, "")


def test_unknown_value_is_refused_by_the_schema(helm: Any) -> None:
    result = helm("template", RELEASE, str(CHART), "--set", "unknownKey=1")
    assert result.returncode != 0
    assert "additional properties 'unknownKey' not allowed" in result.stderr


def test_value_of_the_wrong_type_is_refused_by_the_schema(helm: Any) -> None:
    result = helm("template", RELEASE, str(CHART), "--set", "controlPlane.replicas=lots")
    assert result.returncode != 0
    assert "/controlPlane/replicas" in result.stderr and "want integer" in result.stderr


@pytest.mark.parametrize("url", ["localhost:8000", "https://play.example.org/", "ftp://play.example.org"])
def test_public_url_must_be_http_without_a_trailing_slash(helm: Any, url: str) -> None:
    result = helm("template", RELEASE, str(CHART), "--set", f"publicUrl={url}")
    assert result.returncode != 0
    assert "/publicUrl" in result.stderr and "does not match pattern" in result.stderr


def test_enabled_ingress_needs_a_class(helm: Any) -> None:
    result = helm("template", RELEASE, str(CHART), "--set", "controlPlane.ingress.enabled=true")
    assert result.returncode != 0
    assert "/controlPlane/ingress/className" in result.stderr


def test_ingress_host_must_be_the_public_url_host(helm: Any) -> None:
    result = helm("template", RELEASE, str(CHART), "-f", FULL[1], "--set", "controlPlane.ingress.host=other.org")
    assert result.returncode != 0
    assert 'controlPlane.ingress.host "other.org" is not the host of publicUrl' in result.stderr


def test_helm_test_hook_pod_fetches_healthz_through_the_service(render: Any) -> None:
    docs = render(*FULL)
    pod = find(docs, "Pod", "gymkube-controlplane-test")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    assert pod["spec"]["restartPolicy"] == "Never"
    (c,) = pod["spec"]["containers"]
    assert c["image"] == "registry.example.org/lab/gymkube:0.1.0-rc.1"
    assert c["command"][:2] == ["python", "-c"]
    service = find(docs, "Service", "gymkube-controlplane")
    url = f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}/healthz"
    assert f'url = "{url}"' in c["command"][2]


class _Health(http.server.BaseHTTPRequestHandler):
    answer: tuple[int, bytes] = (200, b"")

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        status, body = self.answer
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture()
def health_server() -> Iterator[tuple[str, type[_Health]]]:
    """A local /healthz whose answer a test sets."""
    handler = type("Handler", (_Health,), {})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/healthz", handler
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    ("status", "body", "passes"),
    [(200, b'{"ok": true}', True), (200, b'{"ok": false}', False), (503, b'{"ok": true}', False)],
)
def test_helm_test_passes_only_when_healthz_answers_ok(
    render: Any, health_server: tuple[str, type[_Health]], status: int, body: bytes, passes: bool
) -> None:
    url, handler = health_server
    handler.answer = (status, body)
    (c,) = find(render(), "Pod", "gymkube-controlplane-test")["spec"]["containers"]
    code = re.sub(r'url = "[^"]+"', f'url = "{url}"', c["command"][2])
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert (result.returncode == 0) is passes, result.stdout + result.stderr


def test_chart_secret_holds_both_documented_keys_and_everything_uses_it(render: Any) -> None:
    docs = render()
    secret = find(docs, "Secret", "gymkube-secrets")
    values = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert set(values) == {"participant-token-secret", "admin-secret"}
    assert len(values["admin-secret"]) >= 16 and len(values["participant-token-secret"]) >= 32
    env = env_of(container(docs, "gymkube-controlplane"))
    assert env["GYMKUBE_ADMIN_SECRET"] == {"secretKeyRef": {"name": "gymkube-secrets", "key": "admin-secret"}}
    platform_secret = {"secretKeyRef": {"name": "gymkube-secrets", "key": "participant-token-secret"}}
    assert env["GYMKUBE_SECRET"] == platform_secret
    assert env_of(container(docs, "gymkube-operator"))["GYMKUBE_PLATFORM_SECRET"] == platform_secret


def test_existing_secret_is_used_instead_of_generating_one(render: Any) -> None:
    docs = render("--set", "secrets.existingSecret=lab-secrets")
    assert not [d for d in docs if d["kind"] == "Secret"]
    env = env_of(container(docs, "gymkube-controlplane"))
    assert env["GYMKUBE_ADMIN_SECRET"]["secretKeyRef"]["name"] == "lab-secrets"
    assert env["GYMKUBE_SECRET"]["secretKeyRef"]["name"] == "lab-secrets"
    assert (
        env_of(container(docs, "gymkube-operator"))["GYMKUBE_PLATFORM_SECRET"]["secretKeyRef"]["name"] == "lab-secrets"
    )


def test_control_plane_checksum_follows_the_secret(render: Any) -> None:
    def checksum(*args: str) -> str:
        deployment = find(render(*args), "Deployment", "gymkube-controlplane")
        return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert re.fullmatch(r"[0-9a-f]{64}", checksum())
    assert checksum() != checksum()  # freshly generated secrets differ on every render without `lookup`
    given = ("--set", "secrets.existingSecret=lab-secrets")
    assert checksum(*given) == checksum(*given)


def test_default_values_keep_tokens_on_an_empty_dir_and_create_no_ingress(render: Any) -> None:
    docs = render()
    spec = find(docs, "Deployment", "gymkube-controlplane")["spec"]
    volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
    assert volumes["state"] == {"name": "state", "emptyDir": {}}
    assert "strategy" not in spec
    operator_env = env_of(container(docs, "gymkube-operator"))
    assert "GYMKUBE_INGRESS_CLASS" not in operator_env and "GYMKUBE_STORAGE" not in operator_env


def test_full_values_wire_ingress_persistence_storage_and_scheduling(render: Any) -> None:
    docs = render(*FULL)
    ingress = find(docs, "Ingress", "gymkube-controlplane")["spec"]
    assert ingress["ingressClassName"] == "nginx"
    assert ingress["tls"] == [{"secretName": "play-example-org-tls", "hosts": ["play.example.org"]}]
    (rule,) = ingress["rules"]
    assert rule["host"] == "play.example.org"
    assert rule["http"]["paths"] == [{"path": "/", "pathType": "Prefix", "backend": {
        "service": {"name": "gymkube-controlplane", "port": {"name": "http"}}}}]  # fmt: skip
    claim = find(docs, "PersistentVolumeClaim", "gymkube-controlplane")["spec"]
    assert claim["storageClassName"] == "fast-ssd" and claim["resources"]["requests"]["storage"] == "2Gi"
    deployment = find(docs, "Deployment", "gymkube-controlplane")["spec"]
    assert deployment["strategy"] == {"type": "Recreate"}
    pod = deployment["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["state"]["persistentVolumeClaim"] == {"claimName": "gymkube-controlplane"}
    assert pod["nodeSelector"] == {"example.org/pool": "platform"}
    assert pod["tolerations"][0]["key"] == "example.org/dedicated" and "nodeAffinity" in pod["affinity"]
    assert pod["imagePullSecrets"] == [{"name": "lab-registry"}]
    (c,) = pod["containers"]
    assert c["envFrom"] == [{"secretRef": {"name": "lab-s3-credentials"}}]
    env = env_of(c)
    assert env["GYMKUBE_STORAGE"] == "s3://lab-studies/gymkube/prod"
    assert env["GYMKUBE_S3_ENDPOINT"] == "https://s3.example.org" and env["GYMKUBE_S3_REGION"] == "eu-central-1"
    assert env["GYMKUBE_RUNTIME"] == "kubernetes" and env["GYMKUBE_PUBLIC_URL"] == "https://play.example.org"


def chart_environment(docs: list[Doc], deployment: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set the container's environment as the kubelet would (Secret values from the rendered Secret, else made up)."""
    secrets = [d for d in docs if d["kind"] == "Secret"]
    values = {k: base64.b64decode(v).decode() for k, v in secrets[0]["data"].items()} if secrets else {}
    for name, value in env_of(container(docs, deployment)).items():
        if isinstance(value, dict):
            key = (value.get("secretKeyRef") or {}).get("key")
            value = values.get(key, "a-long-secret-from-an-existing-secret") if key else NAMESPACE
        monkeypatch.setenv(name, value)


def test_operator_settings_accept_the_charts_environment(render: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    values = yaml.safe_load((CHART / "ci" / "full-values.yaml").read_text())
    chart_environment(render(*FULL), "gymkube-operator", monkeypatch)
    settings = OperatorSettings()
    assert settings.ingress_annotations == values["gamePods"]["ingressAnnotations"]
    assert settings.image == "registry.example.org/lab/gymkube:0.1.0-rc.1" and settings.image_pull_policy == "Always"
    assert settings.image_patterns == values["gamePods"]["allowedImages"]
    assert settings.storage == "s3://lab-studies/gymkube/prod"
    assert settings.control_plane_url == "http://gymkube-controlplane.lab.svc:8080"
    assert settings.public_url == "https://play.example.org"
    assert (settings.ingress_class, settings.ingress_host) == ("nginx", "play.example.org")
    assert (settings.drain_timeout_s, settings.load_interval_s) == (60, 5.0)
    assert settings.game_pod_resources == values["gamePods"]["resources"]
    assert settings.node_selector == {"example.org/pool": "games"}
    network = settings.network_policy
    assert network is not None and network.ingress_controller.namespace == "traefik"
    assert (network.control_plane.namespace, network.operator.namespace) == (NAMESPACE, NAMESPACE)
    assert network.storage.ports == [443, 9000] and network.storage.peers == values["networkPolicy"]["storage"]["peers"]


def test_operator_settings_accept_the_default_environment_with_a_bucket(
    render: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = render(*WITH_BUCKET)
    chart_environment(docs, "gymkube-operator", monkeypatch)
    settings = OperatorSettings()
    assert settings.storage == "s3://studies/gymkube" and settings.ingress_class is None
    secret = find(docs, "Secret", "gymkube-secrets")["data"]["participant-token-secret"]
    assert settings.platform_secret.get_secret_value() == base64.b64decode(secret).decode()
    assert settings.image_patterns == [
        f"ghcr.io/gymkube/gymkube:{yaml.safe_load((CHART / 'Chart.yaml').read_text())['appVersion']}"
    ]
    assert settings.control_plane_url == "http://gymkube-controlplane.lab.svc:80"
    assert settings.network_policy is not None


def test_control_plane_settings_accept_the_charts_environment(render: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = render(*WITH_BUCKET)
    chart_environment(docs, "gymkube-controlplane", monkeypatch)
    settings = PlatformSettings()
    settings.check()  # a generated admin secret is long enough outside dev mode
    assert settings.runtime == "kubernetes" and not settings.dev
    assert (settings.host, settings.port) == ("0.0.0.0", 8000)
    assert settings.storage_url == "s3://studies/gymkube" and str(settings.state_dir) == "/var/lib/gymkube"


def test_image_tag_defaults_to_the_app_version_of_the_package(render: Any) -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'version = "{chart["appVersion"]}"' in pyproject
    assert container(render(), "gymkube-operator")["image"] == f"ghcr.io/gymkube/gymkube:{chart['appVersion']}"


def test_notes_tell_how_to_create_a_token_and_warn_about_what_is_missing(helm: Any) -> None:
    result = helm("install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client")
    assert result.returncode == 0, result.stderr
    notes = result.stdout.split("NOTES:", 1)[1]
    command = "kubectl exec -n lab deploy/gymkube-controlplane -- gymkube token create NAME --state /var/lib/gymkube"
    assert command in notes
    assert "http://localhost:8000/admin" in notes and "kubectl apply -n lab -f examples/cartpole.yaml" in notes
    assert "vanish" in notes and "storage.s3.bucket is not set" in notes
    full = helm("install", RELEASE, str(CHART), "--namespace", NAMESPACE, "--dry-run=client", *FULL)
    assert full.returncode == 0, full.stderr
    assert "vanish" not in full.stdout and "bucket is not set" not in full.stdout


def test_crds_ship_with_the_chart_as_generated(helm: Any) -> None:
    result = helm("template", RELEASE, str(CHART), "--include-crds")
    assert result.returncode == 0, result.stderr
    crds = [d for d in yaml.safe_load_all(result.stdout) if d and d["kind"] == "CustomResourceDefinition"]
    assert [c["metadata"]["name"] for c in crds] == ["experiments.gymkube.io"]
    assert not list(Path(CHART / "templates").rglob("*crd*"))  # CRDs live in crds/ only, never templated
