"""A small async client for the Kubernetes API: in-cluster service account or a kubeconfig."""

from __future__ import annotations

import base64
import os
import ssl
import tempfile
from pathlib import Path
from typing import Any

import httpx
import yaml

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeError(Exception):
    """The API server said no; `status` is its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


def _from_kubeconfig(path: Path) -> tuple[str, dict[str, str], ssl.SSLContext | bool]:
    config = yaml.safe_load(path.read_text())
    context_name = config.get("current-context")
    context = next(c["context"] for c in config["contexts"] if c["name"] == context_name)
    cluster = next(c["cluster"] for c in config["clusters"] if c["name"] == context["cluster"])
    user: dict[str, Any] = next((u["user"] for u in config.get("users", []) if u["name"] == context.get("user")), {})
    headers = {"Authorization": f"Bearer {user['token']}"} if user.get("token") else {}
    verify: ssl.SSLContext | bool = not cluster.get("insecure-skip-tls-verify", False)
    if cluster.get("certificate-authority-data"):
        with tempfile.NamedTemporaryFile("wb", delete=False, suffix=".crt") as ca:
            ca.write(base64.b64decode(cluster["certificate-authority-data"]))
        verify = ssl.create_default_context(cafile=ca.name)
    elif cluster.get("certificate-authority"):
        verify = ssl.create_default_context(cafile=cluster["certificate-authority"])
    return cluster["server"], headers, verify


def connect() -> tuple[KubeApi, str]:
    """A client from the pod's service account, else from $KUBECONFIG; and the namespace to use."""
    if (SERVICE_ACCOUNT / "token").exists():
        server = f"https://{os.environ['KUBERNETES_SERVICE_HOST']}:{os.environ['KUBERNETES_SERVICE_PORT']}"
        headers = {"Authorization": f"Bearer {(SERVICE_ACCOUNT / 'token').read_text().strip()}"}
        verify: ssl.SSLContext | bool = ssl.create_default_context(cafile=str(SERVICE_ACCOUNT / "ca.crt"))
        namespace = (SERVICE_ACCOUNT / "namespace").read_text().strip()
    else:
        server, headers, verify = _from_kubeconfig(Path(os.environ.get("KUBECONFIG", "~/.kube/config")).expanduser())
        namespace = "default"
    return KubeApi(server, headers, verify), os.environ.get("GYMKUBE_NAMESPACE", namespace)


class KubeApi:
    """JSON over HTTP to the API server; errors become KubeError."""

    def __init__(self, server: str, headers: dict[str, str], verify: ssl.SSLContext | bool = True) -> None:
        self.client = httpx.AsyncClient(base_url=server, headers=headers, verify=verify, timeout=10.0)

    async def request(self, method: str, path: str, body: Any = None, content_type: str | None = None) -> Any:
        """One API call; returns the decoded JSON body."""
        headers = {"Content-Type": content_type} if content_type else {}
        reply = await self.client.request(method, path, json=body, headers=headers)
        if reply.status_code >= 400:
            try:
                message = reply.json().get("message", reply.text)
            except ValueError:
                message = reply.text
            raise KubeError(reply.status_code, message)
        return reply.json() if reply.content else None

    async def get(self, path: str) -> Any:
        """GET."""
        return await self.request("GET", path)

    async def list(self, path: str, label_selector: str | None = None) -> list[dict[str, Any]]:
        """The items of a list, optionally filtered by labels."""
        query = f"?labelSelector={label_selector}" if label_selector else ""
        return list((await self.request("GET", path + query)).get("items") or [])

    async def create(self, path: str, body: dict[str, Any]) -> Any:
        """POST a new object."""
        return await self.request("POST", path, body)

    async def merge_patch(self, path: str, patch: dict[str, Any]) -> Any:
        """A JSON merge patch."""
        return await self.request("PATCH", path, patch, "application/merge-patch+json")

    async def delete(self, path: str) -> Any:
        """DELETE (404 is fine: it is gone)."""
        try:
            return await self.request("DELETE", path)
        except KubeError as exc:
            if exc.status != 404:
                raise
            return None

    async def close(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()
