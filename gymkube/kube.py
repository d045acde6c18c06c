"""Kubernetes through the official `kubernetes` client: credentials loaded in one place, every call off the event loop.

Why the official package's synchronous client, each call in a worker thread, rather than an asyncio
client (kubernetes_asyncio, or the `kubernetes.aio` that the official package gained in release 36):
its kubeconfig loader is the one every Python tool has used for years, and it keeps credentials fresh
by itself (an exec plugin's token past its expiry, the service account token kubelet rotates on disk:
both re-read before the next request), where the asyncio loaders need a refresh task of their own.
The operator and the control plane make a few calls per reconcile or poll, so a thread per call
costs nothing that matters, and kopf's own login can be built from the same loaded configuration
(`gymkube.operator.client.connection_info`).

Pinned below release 37: 37 regenerated the client (pydantic models) and 37.0.2 asks for
python-dateutil>=3, which botocore refuses, so pip backtracks for ever.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.rest import ApiException

Manifest = dict[str, Any]

MERGE_PATCH = "application/merge-patch+json"
"""A JSON merge patch: lists are replaced, as our manifests mean them (the client's default for a
dict body is a strategic merge, which keeps list items the manifest no longer has)."""
REQUEST_TIMEOUT_S = 10.0
"""No call waits longer on the API server (it holds a worker thread while it waits)."""


class KubeError(Exception):
    """The API server said no, or could not be reached (`status` 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status


def load_configuration() -> tuple[client.Configuration, str]:
    """Credentials for the API server, and the namespace to work in.

    The pod's service account when running in a cluster, else $KUBECONFIG (several paths are
    merged, as kubectl does; `~/.kube/config` when unset) with its current context. Every auth
    method the official client knows works: a token or token file, a client certificate (kind's
    kubeconfig), an exec plugin (EKS, GKE, AKS), the OIDC and GCP auth providers, basic auth.
    The namespace is $GYMKUBE_NAMESPACE, else the service account's, else the context's, else `default`.

    Raises:
        KubeError: when there is neither a service account nor a usable kubeconfig.
    """
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
        service_account = Path(config.incluster_config.SERVICE_TOKEN_FILENAME).parent
        namespace = (service_account / "namespace").read_text().strip()
    except config.ConfigException:
        kubeconfig = os.environ.get("KUBECONFIG", "~/.kube/config")  # read now: the client reads it at import
        try:
            config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
            _, context = config.list_kube_config_contexts(config_file=kubeconfig)
        except (config.ConfigException, OSError) as exc:
            raise KubeError(
                0, f"no Kubernetes credentials: not in a cluster, and kubeconfig {kubeconfig}: {exc}"
            ) from None
        namespace = context["context"].get("namespace") or "default"
    return configuration, os.environ.get("GYMKUBE_NAMESPACE", namespace)


def _error_message(exc: ApiException) -> str:
    """The `message` of the API server's Status answer, else its reason."""
    try:
        status = json.loads(exc.body)
        return str(status.get("message") or exc.reason)
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason)


class Kube:
    """The official client's typed APIs over one connection pool; every call runs in a worker thread."""

    def __init__(self, configuration: client.Configuration) -> None:
        self.configuration = configuration
        self.api_client = client.ApiClient(configuration)
        self.core = client.CoreV1Api(self.api_client)
        self.apps = client.AppsV1Api(self.api_client)
        self.policy = client.PolicyV1Api(self.api_client)
        self.networking = client.NetworkingV1Api(self.api_client)
        self.custom = client.CustomObjectsApi(self.api_client)

    async def call(self, operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one operation of the typed APIs (e.g. `kube.apps.read_namespaced_stateful_set`) in a thread.

        Returns:
            The answer as the API server sent it, decoded from JSON: the operator and the runtime
            compare and build plain manifests, and a round trip through the client's models would
            drop the fields its release does not know.

        Raises:
            KubeError: the API server answered with an error status, or could not be reached.
        """
        return await asyncio.to_thread(self._call, operation, *args, **kwargs)

    @staticmethod
    def _call(operation: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            response = operation(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT_S, **kwargs)
        except ApiException as exc:
            raise KubeError(exc.status or 0, _error_message(exc)) from None
        except urllib3.exceptions.HTTPError as exc:
            raise KubeError(0, f"the Kubernetes API could not be reached: {exc}") from None
        try:
            return json.loads(response.data) if response.data else None
        finally:
            response.release_conn()

    async def close(self) -> None:
        """Close the connection pool."""
        self.api_client.close()
        self.api_client.rest_client.pool_manager.clear()
