"""What keeps an experiment's game pods apart from everything else: their own key, and their NetworkPolicy.

Why the operator, not the chart, makes each experiment's NetworkPolicy: game pods may live in any
namespace the operator watches, including ones created after the chart was installed. A policy
that is a child of its Experiment exists before the experiment's first pod does (the operator
creates it first) and goes with it, wherever it lives; a chart-rendered policy covers only the
namespaces listed at install time, and pods elsewhere would run unfenced. The chart remains the
one place the facts come from (where the ingress controller, the control plane and the storage
endpoint are): it hands them to the operator as `networkPolicy` values, and this pure builder
turns them into the same policy for every experiment.
"""

from __future__ import annotations

import base64
from ipaddress import IPv4Network
from typing import Any

from gymkube.operator.builders import (
    HTTP_PORT,
    KEY_SECRET_KEY,
    Body,
    Manifest,
    child_metadata,
    child_name,
    experiment_key_of,
    key_secret_name,
    selector,
)
from gymkube.operator.settings import METADATA_ENDPOINTS, GamePodNetwork, IpBlock, OperatorSettings, PodGroup

DNS_PORTS = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def make_key_secret(body: Body, settings: OperatorSettings) -> Manifest:
    """Secret `gx-NAME-key`: the experiment's own key, the only key its game pods get."""
    key = experiment_key_of(body, settings)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": child_metadata(body, key_secret_name(body)),
        "type": "Opaque",
        "data": {KEY_SECRET_KEY: base64.b64encode(key.encode()).decode()},
    }


def _pods(group: PodGroup) -> Manifest:
    """A NetworkPolicyPeer: the group's pods in its namespace."""
    return {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": group.namespace}},
        "podSelector": {"matchLabels": dict(group.pod_labels)} if group.pod_labels else {},
    }


def _ip_block(block: IpBlock) -> Manifest:
    """A NetworkPolicy ipBlock that never includes a cloud metadata endpoint, whatever the values say."""
    excluded = list(block.except_)
    for endpoint in METADATA_ENDPOINTS:
        inside = endpoint.version == block.cidr.version and endpoint.subnet_of(block.cidr)  # type: ignore[arg-type]
        covered = any(e.version == endpoint.version and endpoint.subnet_of(e) for e in excluded)  # type: ignore[arg-type]
        if inside and not covered:
            excluded.append(endpoint)
    ip_block: Manifest = {"cidr": str(block.cidr)}
    if excluded:
        ip_block["except"] = [str(network) for network in excluded]
    return ip_block


def _tcp(ports: list[int]) -> list[Manifest]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def game_pod_egress(network: GamePodNetwork) -> list[Manifest]:
    """Where game pods may send: DNS, the control plane's internal API, the storage endpoint. Nothing else."""
    anywhere_but_metadata = _ip_block(IpBlock(cidr=IPv4Network("0.0.0.0/0")))
    rules: list[Manifest] = [
        # Cluster DNS runs in pods; node-local caches listen on a link-local address of the node.
        {"to": [{"namespaceSelector": {}}, {"ipBlock": anywhere_but_metadata}], "ports": DNS_PORTS},
        {"to": [_pods(network.control_plane)], "ports": _tcp([network.control_plane_port])},
    ]
    storage = network.storage
    to = [{"ipBlock": _ip_block(block)} for block in storage.ip_blocks] + [dict(peer) for peer in storage.peers]
    if to:  # an egress rule without `to` would allow every destination
        rules.append({"to": to, "ports": _tcp(storage.ports)})
    return rules


def make_network_policy(body: Body, network: GamePodNetwork) -> Manifest:
    """NetworkPolicy `gx-NAME`: the game pods take traffic from the ingress controller, the control plane and
    the operator (their load reports) only (and Prometheus, when the chart names it), and send only where
    `game_pod_egress` says."""
    sources = [network.ingress_controller, network.control_plane, network.operator]
    if network.prometheus is not None:  # its /metrics, at the root of the same port
        sources.append(network.prometheus)
    ingress: list[Manifest] = [{"from": [_pods(group) for group in sources], "ports": _tcp([HTTP_PORT])}]
    spec: dict[str, Any] = {
        "podSelector": {"matchLabels": selector(body)},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": ingress,
        "egress": game_pod_egress(network),
    }
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": child_metadata(body, child_name(body)),
        "spec": spec,
    }
