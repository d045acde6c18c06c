"""The operator's client for the children of Experiments, and kopf's login with the same credentials."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import kopf
from kubernetes import client

from gymkube.kube import MERGE_PATCH, Kube, KubeError, Manifest
from gymkube.operator.admission import Refused, foreign_object_problem, owned_by

# Every kind the operator touches: the typed API that serves it, and its name in that API's
# operations (`create_namespaced_<name>`, `read_namespaced_<name>`, ...).
KINDS = {
    ("v1", "ConfigMap"): ("core", "config_map"),
    ("v1", "Secret"): ("core", "secret"),
    ("v1", "Service"): ("core", "service"),
    ("v1", "Pod"): ("core", "pod"),
    ("apps/v1", "StatefulSet"): ("apps", "stateful_set"),
    ("policy/v1", "PodDisruptionBudget"): ("policy", "pod_disruption_budget"),
    ("networking.k8s.io/v1", "Ingress"): ("networking", "ingress"),
    ("networking.k8s.io/v1", "NetworkPolicy"): ("networking", "network_policy"),
}


def covers(actual: Any, desired: Any) -> bool:
    """Whether `actual` already has every value `desired` sets (the server may have added defaults)."""
    if isinstance(desired, Mapping):
        return isinstance(actual, Mapping) and all(k in actual and covers(actual[k], v) for k, v in desired.items())
    if isinstance(desired, list):
        return (
            isinstance(actual, list)
            and len(actual) == len(desired)
            and all(covers(a, d) for a, d in zip(actual, desired, strict=True))
        )
    return bool(actual == desired)


class ChildClient:
    """Create-or-patch, read, list and delete the children of Experiments."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube

    def _operation(self, verb: str, api_version: str, kind: str) -> Callable[..., Any]:
        api, name = KINDS[(api_version, kind)]
        operation: Callable[..., Any] = getattr(getattr(self.kube, api), f"{verb}_namespaced_{name}")
        return operation

    async def apply(self, manifest: Manifest) -> Manifest:
        """Create the object; if it exists, merge-patch it to `manifest` unless it already matches.

        Raises:
            Refused: an object of that name exists and is not owned by the manifest's owner (the
                Experiment it was adopted to): it is left as it is, never adopted.
        """
        api_version, kind, meta = manifest["apiVersion"], manifest["kind"], manifest["metadata"]
        try:
            created: Manifest = await self.kube.call(
                self._operation("create", api_version, kind), meta["namespace"], manifest
            )
            return created
        except KubeError as exc:
            if exc.status != 409:
                raise
        existing = await self.get(api_version, kind, meta["namespace"], meta["name"])
        owners = [reference["uid"] for reference in meta.get("ownerReferences") or []]
        if existing is not None and not any(owned_by(existing, uid) for uid in owners):
            raise Refused(foreign_object_problem(kind, meta["name"]))
        if existing is not None and covers(existing, manifest):
            return existing  # no write: no new resourceVersion, no rollout, no watch event
        patched = await self.patch(api_version, kind, meta["namespace"], meta["name"], manifest)
        if patched is None:
            raise kopf.TemporaryError(f"{kind} {meta['name']} was deleted while it was being updated", delay=1)
        return patched

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> Manifest | None:
        """The object, or None when it does not exist."""
        try:
            found: Manifest = await self.kube.call(self._operation("read", api_version, kind), name, namespace)
            return found
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    async def patch(self, api_version: str, kind: str, namespace: str, name: str, patch: Manifest) -> Manifest | None:
        """Merge-patch the object; None when it does not exist."""
        operation = self._operation("patch", api_version, kind)
        try:
            patched: Manifest = await self.kube.call(operation, name, namespace, patch, _content_type=MERGE_PATCH)
            return patched
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        """Delete the object (already gone is fine)."""
        try:
            await self.kube.call(self._operation("delete", api_version, kind), name, namespace)
        except KubeError as exc:
            if exc.status != 404:
                raise

    async def list(self, api_version: str, kind: str, namespace: str, label_selector: str) -> list[Manifest]:
        """The objects of one kind in a namespace that match a label selector."""
        found = await self.kube.call(
            self._operation("list", api_version, kind), namespace, label_selector=label_selector
        )
        return list(found.get("items") or [])

    async def close(self) -> None:
        """Close the connection pool."""
        await self.kube.close()


def connection_info(configuration: client.Configuration) -> kopf.ConnectionInfo:
    """kopf's credentials, taken from a configuration that `gymkube.kube.load_configuration` loaded.

    The token is asked for through the client, which first renews it when it has expired (an exec
    plugin's, the service account's), as kopf's own `login_via_client` does.
    """
    header = configuration.get_api_key_with_prefix("BearerToken") or ""
    scheme, token = header.split(" ", 1) if " " in header else (None, header)  # "Bearer abc", "Basic ...", "abc"
    return kopf.ConnectionInfo(
        server=configuration.host,
        ca_path=configuration.ssl_ca_cert,
        insecure=not configuration.verify_ssl,
        username=configuration.username or None,
        password=configuration.password or None,
        scheme=scheme,
        token=token or None,
        certificate_path=configuration.cert_file,
        private_key_path=configuration.key_file,
    )
