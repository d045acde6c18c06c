"""The control plane's state in its Kubernetes namespace: a Secret per researcher token, a ConfigMap of ordinals."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import random
import time
from typing import Any

from gymkube.kube import MERGE_PATCH, Kube, KubeError
from gymkube.platform.auth import Researcher, TokenInfo, check_name, new_token, token_digest
from gymkube.platform.state import StateStore

log = logging.getLogger(__name__)

TOKEN_LABEL = "gymkube.io/researcher-token"
RESEARCHER_LABEL = "gymkube.io/researcher"
ORDINALS = "gymkube-ordinals"
POSITIVE_S = 30.0
"""A token seen valid is believed that long before the API is asked again (the longest a revocation takes)."""
NEGATIVE_S = 5.0
MISSES_PER_S = 20
"""Unknown tokens looked up in the API per second at most (more are refused unasked: a flood of random
tokens must not become a flood of API calls)."""
CAS_ATTEMPTS = 20


def secret_name(digest: str) -> str:
    """The Secret a token's hash is kept in: found by name, never by listing every token."""
    return f"gymkube-token-{digest[:40]}"


def _text(data: dict[str, str], key: str) -> str:
    return base64.b64decode(data[key]).decode()


def _info(secret: dict[str, Any]) -> TokenInfo:
    data = secret.get("data") or {}
    scope = json.loads(_text(data, "experiments"))
    return TokenInfo(_text(data, "name"), _text(data, "sha256"), tuple(scope) if scope is not None else None,
                     float(_text(data, "created")))  # fmt: skip


class KubernetesState(StateStore):
    """Shared by every control plane replica in the namespace; nothing lives only in a process.

    It borrows the runtime's API connection (closed by the runtime).
    """

    def __init__(self, kube: Kube, namespace: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self._cache: dict[str, tuple[Researcher | None, float]] = {}
        self._misses: list[float] = []

    async def create_token(self, name: str, experiments: list[str] | None = None) -> str:
        """A Secret holding the new token's hash, name and scope."""
        token = new_token()
        digest = token_digest(token)
        assert digest is not None
        body = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": secret_name(digest),
                "labels": {TOKEN_LABEL: "true", RESEARCHER_LABEL: check_name(name),
                           "app.kubernetes.io/managed-by": "gymkube"},  # fmt: skip
            },
            "type": "Opaque",
            "data": {key: base64.b64encode(value.encode()).decode() for key, value in {
                "name": name, "sha256": digest, "created": str(time.time()),
                "experiments": json.dumps(sorted(experiments) if experiments is not None else None)}.items()},
        }  # fmt: skip
        await self.kube.call(self.kube.core.create_namespaced_secret, self.namespace, body)
        return token

    async def verify_token(self, token: str) -> Researcher | None:
        """From the cache, else one GET of the Secret named after the hash (bounded per second)."""
        digest = token_digest(token)
        if digest is None:
            return None
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        self._misses = [t for t in self._misses if t > now - 1.0]
        if len(self._misses) >= MISSES_PER_S:
            return None
        self._misses.append(now)
        try:
            secret = await self.kube.call(self.kube.core.read_namespaced_secret, secret_name(digest), self.namespace)
            info = _info(secret)
            found = Researcher(info.name, info.experiments) if info.sha256 == digest else None
        except KubeError as exc:
            if exc.status != 404:
                log.warning("cannot look a researcher token up in the cluster: %s", exc)
                return hit[0] if hit is not None else None  # the API is down: a known token still works
            found = None
        except (KeyError, ValueError, TypeError):
            found = None
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (found, now + (POSITIVE_S if found else NEGATIVE_S))
        return found

    async def _token_secrets(self, selector: str) -> list[dict[str, Any]]:
        answer = await self.kube.call(self.kube.core.list_namespaced_secret, self.namespace, label_selector=selector)
        return list((answer or {}).get("items") or [])

    async def list_tokens(self) -> list[TokenInfo]:
        """Every token Secret, oldest first."""
        infos = []
        for secret in await self._token_secrets(f"{TOKEN_LABEL}=true"):
            try:
                infos.append(_info(secret))
            except (KeyError, ValueError, TypeError):
                log.warning("secret %s is not a token this version can read", secret["metadata"]["name"])
        return sorted(infos, key=lambda t: t.created)

    async def revoke_tokens(self, name: str) -> int:
        """Delete the researcher's token Secrets (other replicas stop accepting them within POSITIVE_S)."""
        secrets = await self._token_secrets(f"{TOKEN_LABEL}=true,{RESEARCHER_LABEL}={check_name(name)}")
        for secret in secrets:
            await self.kube.call(self.kube.core.delete_namespaced_secret, secret["metadata"]["name"], self.namespace)
        self._cache.clear()
        return len(secrets)

    async def reserve_ordinals(self, experiment: str, count: int) -> int:
        """Compare-and-swap on the ConfigMap's resourceVersion (a JSON patch's `test`), retried on a lost race."""
        for _ in range(CAS_ATTEMPTS):
            current = await self._ordinals()
            version = current["metadata"]["resourceVersion"]
            start = int((current.get("data") or {}).get(experiment, "0"))
            patch = [
                {"op": "test", "path": "/metadata/resourceVersion", "value": version},
                {"op": "add", "path": f"/data/{experiment}", "value": str(start + count)},
            ]
            try:
                await self.kube.call(self.kube.core.patch_namespaced_config_map, ORDINALS, self.namespace, patch,
                                     _content_type="application/json-patch+json")  # fmt: skip
                return start
            except KubeError as exc:
                if exc.status not in (409, 422):  # another replica moved the counter first: read it again
                    raise
                await asyncio.sleep(random.uniform(0, 0.05))
        raise KubeError(409, f"could not reserve ordinals of {experiment} after {CAS_ATTEMPTS} attempts")

    async def _ordinals(self) -> dict[str, Any]:
        try:
            current = await self.kube.call(self.kube.core.read_namespaced_config_map, ORDINALS, self.namespace)
        except KubeError as exc:
            if exc.status != 404:
                raise
            body = {"apiVersion": "v1", "kind": "ConfigMap", "data": {},
                    "metadata": {"name": ORDINALS, "labels": {"app.kubernetes.io/managed-by": "gymkube"}}}  # fmt: skip
            try:
                current = await self.kube.call(self.kube.core.create_namespaced_config_map, self.namespace, body)
            except KubeError as raced:
                if raced.status != 409:
                    raise
                current = await self.kube.call(self.kube.core.read_namespaced_config_map, ORDINALS, self.namespace)
        if not (current.get("data") or {}):
            # A JSON patch cannot `add` below a missing /data: give it one first.
            current = await self.kube.call(self.kube.core.patch_namespaced_config_map, ORDINALS, self.namespace,
                                           {"data": {"_": "0"}}, _content_type=MERGE_PATCH)  # fmt: skip
        return dict(current)
