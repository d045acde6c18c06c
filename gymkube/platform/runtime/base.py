"""What the control plane needs from a runtime: run experiments, find their pods."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from gymkube.spec.experiment import Experiment


@dataclass
class ExperimentRecord:
    """An experiment the runtime runs, with the platform's own flags."""

    experiment: Experiment
    generation: int = 1
    created: float = field(default_factory=time.time)
    status: dict[str, Any] = field(default_factory=dict)
    uid: str = field(default_factory=lambda: uuid.uuid4().hex)
    """Unique to this experiment's life (Kubernetes: metadata.uid): a new key after delete and re-create."""
    namespace: str = "local"
    """Where the experiment lives (Kubernetes: its namespace; the local runtime: 'local')."""
    local_bundle_digest: str | None = None
    """`sha256:` of a bundle the local runtime made from a folder (`spec.bundle: ./folder`)."""

    @property
    def name(self) -> str:
        """The experiment's name."""
        return self.experiment.name

    @property
    def bundle_digest(self) -> str | None:
        """The digest of the bundle the experiment's pods run: the spec's upload, or the folder's stored copy."""
        bundle = self.experiment.spec.bundle
        return bundle if bundle is not None and bundle.startswith("sha256:") else self.local_bundle_digest

    @property
    def paused(self) -> bool:
        """Whether new participants are turned away (`spec.paused`)."""
        return self.experiment.spec.paused


@dataclass(frozen=True)
class PodEndpoint:
    """A game pod: where participants are sent (`url`) and where its load is read (`load_url`)."""

    name: str
    url: str
    experiment: str
    generation: int
    internal_url: str = ""

    @property
    def load_url(self) -> str:
        """The pod's load report (on Kubernetes, its pod IP; locally, the same address)."""
        return (self.internal_url or self.url).rstrip("/") + "/load"


class RuntimeFailure(Exception):
    """A runtime could not do what was asked (the message says why, for the API's detail)."""


class Runtime(Protocol):
    """Runs experiments somewhere: local processes, or Kubernetes through the operator."""

    async def start(self) -> None:
        """Bring back what was running before a restart."""

    async def close(self) -> None:
        """Stop watching; the local runtime also drains its pods."""

    async def stop_pods(self) -> None:
        """Drain and stop the game pods this process runs itself (the local runtime's); Kubernetes: nothing."""

    async def refresh(self) -> None:
        """Bring cached experiments and pods up to date (called by the pod watcher each second)."""

    async def apply(self, experiment: Experiment, source: str | None = None) -> ExperimentRecord:
        """Create the experiment, or roll it to a new spec (`source`: the manifest's folder,
        for bundles given as local paths by `gymkube up`)."""

    async def delete(self, name: str) -> None:
        """Stop the experiment's pods (after their data is flushed) and forget it."""

    async def set_paused(self, name: str, paused: bool) -> ExperimentRecord:
        """Pause (no new participants) or resume, by setting `spec.paused`."""

    def get(self, name: str) -> ExperimentRecord | None:
        """The record, or None."""

    def records(self) -> list[ExperimentRecord]:
        """Every experiment."""

    def pods(self, name: str) -> list[PodEndpoint]:
        """The experiment's live pods."""
