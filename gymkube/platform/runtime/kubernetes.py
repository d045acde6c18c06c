"""The kubernetes runtime: Experiment resources in the API; the operator does the rest."""

from __future__ import annotations

import logging
from typing import Any

from gymkube.kube import MERGE_PATCH, Kube, KubeError
from gymkube.platform.runtime.base import ExperimentRecord, PodEndpoint, RuntimeFailure
from gymkube.spec.crd import GROUP, PLURAL, VERSION
from gymkube.spec.experiment import Experiment
from gymkube.spec.load import ManifestError, parse_experiment

log = logging.getLogger(__name__)

EXPERIMENT_LABEL = "gymkube.io/experiment"


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

    def __init__(self, kube: Kube, namespace: str, public_url: str) -> None:
        self.kube = kube
        self.namespace = namespace
        self.public_url = public_url.rstrip("/")
        self._records: dict[str, ExperimentRecord] = {}
        self._pods: dict[str, list[PodEndpoint]] = {}

    async def _patch(self, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        operation = self.kube.custom.patch_namespaced_custom_object
        patched: dict[str, Any] = await self.kube.call(
            operation, GROUP, VERSION, self.namespace, PLURAL, name, patch, _content_type=MERGE_PATCH
        )
        return patched

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
        await self.kube.close()

    async def stop_pods(self) -> None:
        """Nothing: the operator runs the pods, and they outlive this process."""

    async def refresh(self) -> None:
        """Re-read the experiments and their ready pods."""
        kube = self.kube
        experiments = await kube.call(kube.custom.list_namespaced_custom_object, GROUP, VERSION, self.namespace, PLURAL)
        game_pods = await kube.call(kube.core.list_namespaced_pod, self.namespace, label_selector=EXPERIMENT_LABEL)
        records = {r.name: r for r in map(self._record, experiments.get("items") or []) if r is not None}
        pods: dict[str, list[PodEndpoint]] = {}
        for pod in game_pods.get("items") or []:
            experiment = pod["metadata"].get("labels", {}).get(EXPERIMENT_LABEL)
            ip = (pod.get("status") or {}).get("podIP")
            if experiment not in records or not ip or not _ready(pod) or pod["metadata"].get("deletionTimestamp"):
                continue
            ordinal = pod["metadata"]["name"].rsplit("-", 1)[-1]
            pods.setdefault(experiment, []).append(
                PodEndpoint(
                    name=pod["metadata"]["name"],
                    url=f"{self.public_url}/play/{self.namespace}/{experiment}/{ordinal}/",
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
        create = self.kube.custom.create_namespaced_custom_object
        try:
            saved = await self.kube.call(create, GROUP, VERSION, self.namespace, PLURAL, body)
        except KubeError as exc:
            if exc.status != 409:
                raise RuntimeFailure(f"the Kubernetes API refused the experiment: {exc}") from None
            saved = await self._patch(experiment.name, {"spec": body["spec"]})
        record = self._record(saved)
        if record is None:
            raise RuntimeFailure("the Kubernetes API returned an experiment that does not validate")
        self._records[record.name] = record
        return record

    async def delete(self, name: str) -> None:
        """Delete the Experiment; the operator drains its pods before it goes."""
        delete = self.kube.custom.delete_namespaced_custom_object
        try:
            await self.kube.call(delete, GROUP, VERSION, self.namespace, PLURAL, name)
        except KubeError as exc:
            if exc.status != 404:  # already gone is fine
                raise
        self._records.pop(name, None)
        self._pods.pop(name, None)

    async def set_paused(self, name: str, paused: bool) -> ExperimentRecord:
        """Patch `spec.paused`."""
        record = self._record(await self._patch(name, {"spec": {"paused": paused}}))
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
