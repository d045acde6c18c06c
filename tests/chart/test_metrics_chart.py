"""The chart's monitoring: metrics ports, ServiceMonitor and PodMonitor, a Grafana dashboard, Prometheus let through."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from chart_harness import (  # noqa: F401 - the fixtures `helm` and `render`
    CHART,
    Doc,
    container,
    env_of,
    find,
    helm_fixture,
    invalid_objects,
    render_fixture,
)
from helm import ROOT

from gymkube.operator.builders import HTTP_PORT, labels
from gymkube.operator.isolation import make_network_policy
from gymkube.operator.settings import GamePodNetwork

MONITORED = ("--set", "metrics.serviceMonitor.enabled=true", "--set", "metrics.grafanaDashboard.enabled=true",
             "--set", "metrics.serviceMonitor.labels.release=prom",
             "--set", "networkPolicy.prometheus.namespace=monitoring")  # fmt: skip
BODY = {"metadata": {"name": "study", "namespace": "lab-a", "uid": "u1"}}


def test_default_values_serve_metrics_on_their_own_port_and_create_no_monitor(render: Any) -> None:
    docs = render()
    assert not [d for d in docs if d["kind"] in ("ServiceMonitor", "PodMonitor", "ConfigMap")]
    plane = container(docs, "gymkube-controlplane")
    assert env_of(plane)["GYMKUBE_METRICS_PORT"] == "9090"
    assert {"name": "metrics", "containerPort": 9090, "protocol": "TCP"} in plane["ports"]
    assert env_of(container(docs, "gymkube-operator"))["GYMKUBE_METRICS_PORT"] == "9090"
    service = find(docs, "Service", "gymkube-controlplane")["spec"]
    assert {p["name"]: p["targetPort"] for p in service["ports"]} == {"http": "http", "metrics": "metrics"}
    operator_policy = find(docs, "NetworkPolicy", "gymkube-operator")["spec"]
    assert "ingress" not in operator_policy, "without networkPolicy.prometheus nothing may connect to the operator"
    plane_policy = find(docs, "NetworkPolicy", "gymkube-controlplane")["spec"]
    assert [rule["ports"] for rule in plane_policy["ingress"]] == [[{"protocol": "TCP", "port": "http"}]]


@pytest.mark.parametrize("version", ["1.30", "1.35"])
def test_monitors_and_the_dashboard_render_when_enabled_and_validate(render: Any, version: str) -> None:
    docs = render(*MONITORED)
    assert not invalid_objects(docs, version)
    monitor = find(docs, "ServiceMonitor")
    assert monitor["metadata"]["labels"]["release"] == "prom"
    assert monitor["spec"]["endpoints"] == [{"port": "metrics", "path": "/metrics", "interval": "30s"}]
    # It selects exactly the control plane's and the operator's Services, and both name a `metrics` port.
    selected = [
        d for d in docs if d["kind"] == "Service" and _selects(monitor["spec"]["selector"], d["metadata"]["labels"])
    ]
    assert sorted(d["metadata"]["name"] for d in selected) == ["gymkube-controlplane", "gymkube-operator"]
    assert all("metrics" in [p["name"] for p in d["spec"]["ports"]] for d in selected)
    # The PodMonitor finds every experiment's game pods, in any namespace, on the port the operator names `http`.
    pods = find(docs, "PodMonitor")["spec"]
    assert pods["namespaceSelector"] == {"any": True} and _selects(pods["selector"], labels(BODY))
    assert pods["podMetricsEndpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    dashboard = find(docs, "ConfigMap", "gymkube-grafana-dashboard")
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["gymkube.json"])["uid"] == "gymkube"


def test_a_misspelt_monitor_field_is_caught() -> None:
    bad = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {"name": "x"},
           "spec": {"selector": {}, "endpoints": [{"port": "metrics", "intervall": "30s"}]}}  # fmt: skip
    assert invalid_objects([bad], "1.35")
    bad["spec"]["endpoints"] = [{"port": "metrics", "interval": "soon"}]
    assert invalid_objects([bad], "1.35")


def test_the_grafana_dashboard_asks_only_for_metrics_gymkube_exports() -> None:
    dashboard = json.loads((CHART / "files" / "grafana-dashboard.json").read_text())
    exported = {_base(name) for path in ROOT.glob("gymkube/**/metrics.py")
                for name in re.findall(r'"(gymkube_[a-z0-9_]+)"', path.read_text())}  # fmt: skip
    asked = {_base(name) for panel in dashboard["panels"] for target in panel["targets"]
             for name in re.findall(r"\bgymkube_[a-z0-9_]+", target["expr"])}  # fmt: skip
    assert asked and not asked - exported, f"the dashboard asks for metrics nobody exports: {asked - exported}"
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])


def test_prometheus_may_scrape_only_the_metrics_ports_when_named(render: Any) -> None:
    docs = render(*MONITORED)
    rule = {"from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
                      "podSelector": {}}], "ports": [{"protocol": "TCP", "port": "metrics"}]}  # fmt: skip
    assert rule in find(docs, "NetworkPolicy", "gymkube-controlplane")["spec"]["ingress"]
    assert find(docs, "NetworkPolicy", "gymkube-operator")["spec"]["ingress"] == [rule]
    # The game pods' policy comes from the operator, with Prometheus among those that may reach port 8100.
    network = GamePodNetwork.model_validate_json(env_of(container(docs, "gymkube-operator"))["GYMKUBE_NETWORK_POLICY"])
    assert network.prometheus is not None and network.prometheus.namespace == "monitoring"
    (ingress,) = make_network_policy(BODY, network)["spec"]["ingress"]
    assert ingress["ports"] == [{"protocol": "TCP", "port": HTTP_PORT}]
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
        "podSelector": {},
    } in ingress["from"]
    without = GamePodNetwork.model_validate_json(
        env_of(container(render(), "gymkube-operator"))["GYMKUBE_NETWORK_POLICY"]
    )
    assert without.prometheus is None and len(make_network_policy(BODY, without)["spec"]["ingress"][0]["from"]) == 3


def _selects(selector: Doc, have: dict[str, str]) -> bool:
    matched = all(have.get(k) == v for k, v in selector.get("matchLabels", {}).items())
    return matched and all(have.get(e["key"]) in e["values"] for e in selector.get("matchExpressions", []))


def _base(name: str) -> str:
    return re.sub(r"_(total|bucket|count|sum)$", "", name)
