"""The kubernetes runtime: Experiment resources in the API; the operator does the rest."""

from __future__ import annotations

import logging
from typing import Any

from gymkube.kube import KubeApi, KubeError
from gymkube.platform.runtime.base import ExperimentRecord, PodEndpoint, RuntimeFailure
from gymkube.spec.experiment import Experiment
from gymkube.spec.load import ManifestError, parse_experiment

log = logging.getLogger(__name__)

GROUP_PATH = "/apis/gymkube.io/v1alpha1"


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _port(pod: dict[str, Any]) -> int:
    for container in pod.get("spec", {}).get("containers", []):
        for port in container.get("ports", []):
            if port.get("name") == "http":
                return int(port["containerPort"])
    return 8100


class KubernetesRuntime:
    """Creates, patches and deletes Experiments; reads their status and their ready game pods."""

    def __init__(self, api: KubeApi, namespace: str, public_url: str) -> None:
        self.api = api
        self.namespace = namespace
        self.public_url = public_url.rstrip("/")
        self._records: dict[str, ExperimentRecord] = {}
        self._pods: dict[str, list[PodEndpoint]] = {}

    def _path(self, name: str = "") -> str:
        base = f"{GROUP_PATH}/namespaces/{self.namespace}/experiments"
        return f"{base}/{name}" if name else base

    def _record(self, body: dict[str, Any]) -> ExperimentRecord | None:
        document: dict[str, Any] = {k: body[k] for k in ("apiVersion", "kind", "spec") if k in body}
        document["metadata"] = {"name": body["metadata"]["name"]}
        try:
            experiment = parse_experiment(document, body["metadata"]["name"])
        except ManifestError as exc:
            log.warning("experiment %s does not validate: %s", body["metadata"]["name"], exc)
            return None
        meta = body["metadata"]
        status = dict(body.get("status") or {})
        if meta.get("deletionTimestamp"):  # the operator is draining its pods: admit nobody new
            status["phase"] = "Deleting"
        record = ExperimentRecord(experiment, int(meta.get("generation", 1)), status=status)
        record.uid, record.namespace = str(meta.get("uid") or ""), str(meta.get("namespace") or self.namespace)
        return record

    async def start(self) -> None:
        """Read what exists."""
        await self.refresh()

    async def close(self) -> None:
        """Close the API connection (the pods belong to the operator)."""
        await self.api.close()

    async def stop_pods(self) -> None:
        """Nothing: the operator runs the pods, and they outlive this process."""

    async def refresh(self) -> None:
        """Re-read the experiments and their ready pods."""
        items = await self.api.list(self._path())
        records = {r.name: r for r in (self._record(item) for item in items) if r is not None}
        pods: dict[str, list[PodEndpoint]] = {}
        for pod in await self.api.list(f"/api/v1/namespaces/{self.namespace}/pods", "gymkube.io/experiment"):
            experiment = pod["metadata"].get("labels", {}).get("gymkube.io/experiment")
            ip = (pod.get("status") or {}).get("podIP")
            if experiment not in records or not ip or not _ready(pod) or pod["metadata"].get("deletionTimestamp"):
                continue
            ordinal = pod["metadata"]["name"].rsplit("-", 1)[-1]
            pods.setdefault(experiment, []).append(
                PodEndpoint(
                    name=pod["metadata"]["name"],
                    url=f"{self.public_url}/play/{experiment}/{ordinal}/",
                    experiment=experiment,
                    generation=records[experiment].generation,
                    internal_url=f"http://{ip}:{_port(pod)}/",
                )
            )
        self._records, self._pods = records, pods

    async def apply(self, experiment: Experiment, source: str | None = None) -> ExperimentRecord:
        """Create the Experiment, or merge-patch its spec (the operator rolls the pods)."""
        if experiment.spec.bundle and not experiment.spec.bundle.startswith("sha256:"):
            raise RuntimeFailure("spec.bundle must name an uploaded bundle (sha256:...) on Kubernetes")
        body = experiment.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"status"})
        body["metadata"] = {**body["metadata"], "namespace": self.namespace}
        try:
            saved = await self.api.create(self._path(), body)
        except KubeError as exc:
            if exc.status != 409:
                raise RuntimeFailure(f"the Kubernetes API refused the experiment: {exc}") from None
            saved = await self.api.merge_patch(self._path(experiment.name), {"spec": body["spec"]})
        record = self._record(saved)
        if record is None:
            raise RuntimeFailure("the Kubernetes API returned an experiment that does not validate")
        self._records[record.name] = record
        return record

    async def delete(self, name: str) -> None:
        """Delete the Experiment; the operator drains its pods before it goes."""
        await self.api.delete(self._path(name))
        self._records.pop(name, None)
        self._pods.pop(name, None)

    async def set_paused(self, name: str, paused: bool) -> ExperimentRecord:
        """Patch `spec.paused`."""
        record = self._record(await self.api.merge_patch(self._path(name), {"spec": {"paused": paused}}))
        if record is None:
            raise RuntimeFailure(f"experiment {name} no longer validates")
        self._records[name] = record
        return record

    def get(self, name: str) -> ExperimentRecord | None:
        """The cached record."""
        return self._records.get(name)

    def records(self) -> list[ExperimentRecord]:
        """Every cached experiment."""
        return list(self._records.values())

    def pods(self, name: str) -> list[PodEndpoint]:
        """The experiment's ready game pods."""
        return list(self._pods.get(name, []))
