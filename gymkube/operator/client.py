"""The operator's client for the objects it owns (kopf itself only watches and patches Experiments)."""

from __future__ import annotations

import ssl
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import kopf

from gymkube.kube import KubeApi, KubeError

Manifest = dict[str, Any]

# The plural (URL) name of every kind the operator touches.
PLURALS = {
    "ConfigMap": "configmaps",
    "Service": "services",
    "Pod": "pods",
    "StatefulSet": "statefulsets",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "Ingress": "ingresses",
}


def object_path(api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
    """The API path of a namespaced collection, or of one object in it."""
    root = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    path = f"{root}/namespaces/{namespace}/{PLURALS[kind]}"
    return f"{path}/{name}" if name else path


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

    def __init__(self, api: KubeApi) -> None:
        self.api = api

    async def apply(self, manifest: Manifest) -> Manifest:
        """Create the object; if it exists, merge-patch it to `manifest` unless it already matches."""
        meta = manifest["metadata"]
        collection = object_path(manifest["apiVersion"], manifest["kind"], meta["namespace"])
        try:
            created: Manifest = await self.api.create(collection, manifest)
            return created
        except KubeError as exc:
            if exc.status != 409:
                raise
        path = f"{collection}/{meta['name']}"
        existing: Manifest = await self.api.get(path)
        if covers(existing, manifest):
            return existing  # no write: no new resourceVersion, no rollout, no watch event
        patched: Manifest = await self.api.merge_patch(path, manifest)
        return patched

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> Manifest | None:
        """The object, or None when it does not exist."""
        try:
            found: Manifest = await self.api.get(object_path(api_version, kind, namespace, name))
            return found
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    async def patch(self, api_version: str, kind: str, namespace: str, name: str, patch: Manifest) -> Manifest | None:
        """Merge-patch the object; None when it does not exist."""
        try:
            patched: Manifest = await self.api.merge_patch(object_path(api_version, kind, namespace, name), patch)
            return patched
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    async def delete(self, api_version: str, kind: str, namespace: str, name: str) -> None:
        """Delete the object (already gone is fine)."""
        await self.api.delete(object_path(api_version, kind, namespace, name))

    async def list(self, api_version: str, kind: str, namespace: str, label_selector: str) -> list[Manifest]:
        """The objects of one kind in a namespace that match a label selector."""
        return await self.api.list(object_path(api_version, kind, namespace), label_selector)


CREDENTIALS_TTL_S = 60.0
"""How long read credentials are reused; service account tokens rotate over an hour or more."""


@dataclass
class Connector:
    """Opens a ChildClient with the credentials kopf's default login finds: the service account, else $KUBECONFIG."""

    settings: kopf.OperatorSettings
    _cached: tuple[float, str, dict[str, str], ssl.SSLContext] | None = field(default=None, init=False, repr=False)

    def _credentials(self) -> tuple[str, dict[str, str], ssl.SSLContext]:
        # Reading the kubeconfig and building an SSL context (the system CA bundle) costs tens of
        # milliseconds: done for every handler run, it dominated a burst of reconciles.
        now = time.monotonic()
        if self._cached is None or now - self._cached[0] > CREDENTIALS_TTL_S:
            login = kopf.login_with_service_account(settings=self.settings) or kopf.login_with_kubeconfig(
                settings=self.settings
            )
            if login is None:
                raise kopf.PermanentError("no Kubernetes credentials: no service account token and no kubeconfig")
            self._cached = (now, login.server, dict(login.as_http_headers()), login.as_ssl_context())
        _, server, headers, context = self._cached
        return server, headers, context

    @asynccontextmanager
    async def open(self) -> AsyncIterator[ChildClient]:
        """A client for one handler run, closed after it.

        The credentials are re-read at least every minute because a service account token on disk
        is rotated; a client per run leaves nothing open when the operator stops in the middle of a run.

        Raises:
            kopf.PermanentError: when there are no credentials at all.
        """
        server, headers, context = self._credentials()
        api = KubeApi(server, headers, context)
        try:
            yield ChildClient(api)
        finally:
            await api.close()
