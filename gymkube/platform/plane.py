"""The control plane's state: runtime, routers fed by pod load reports, tokens, storage."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import httpx

from gymkube.game_pod.turn import read_static_credentials, read_turn_secret, turn_credentials
from gymkube.keys import experiment_key, token_key
from gymkube.platform.loads import BadReport, read_load
from gymkube.platform.metrics import POD_REPORTS
from gymkube.platform.routing import Router
from gymkube.platform.runtime.base import ExperimentRecord, PodEndpoint, Runtime
from gymkube.platform.settings import PlatformSettings
from gymkube.platform.state import OrdinalBlocks, StateStore
from gymkube.storage.backends import Storage, open_storage
from gymkube.storage.chunks import DataWriter
from gymkube.storage.trusted import record_trusted_bundle

log = logging.getLogger(__name__)

POD_COUNTERS = ("participants", "games", "waiting", "completed", "dropped")
STARTING = "not answering yet"
"""Why a pod whose port refuses connections has no report (starting, or gone)."""


class ControlPlane:
    """Everything the API and the entry share; only caches, rebuilt after a restart."""

    def __init__(
        self, settings: PlatformSettings, storage: Storage, runtime: Runtime, secret: str, state: StateStore
    ) -> None:
        self.settings = settings
        self.storage = storage
        self.runtime = runtime
        self.secret = secret
        self.state = state
        """Researcher tokens and arrival counters: shared with other replicas, kept across restarts."""
        self.arrivals = OrdinalBlocks(state)
        self.routers: dict[str, Router] = {}
        self.loads: dict[str, dict[str, Any]] = {}
        self.screening: dict[str, DataWriter] = {}
        self._watcher: asyncio.Task[None] | None = None
        self._destinations: dict[str, Storage] = {}
        self._refreshing = asyncio.Lock()
        self._refreshed = 0.0
        self._trusted: set[tuple[str, str]] = set()
        """(experiment, bundle digest) already recorded as trusted for replays."""

    def experiment_key(self, record: ExperimentRecord) -> str:
        """The experiment's own key (what its game pods hold), derived from the platform secret."""
        return experiment_key(self.secret, record.namespace, record.name, record.uid)

    def token_key(self, record: ExperimentRecord) -> str:
        """The key that signs this experiment's participant tokens (its pods verify with the same)."""
        return token_key(self.experiment_key(record))

    def data_storage(self, record: ExperimentRecord) -> Storage:
        """Where the experiment's data and progress live: its `spec.data.destination`, else the platform's storage."""
        destination = record.experiment.spec.data.destination
        if not destination:
            return self.storage
        if destination not in self._destinations:
            self._destinations[destination] = open_storage(destination)
        return self._destinations[destination]

    def storage_for(self, record: ExperimentRecord, key: str) -> Storage:
        """Where an object of the experiment lives: uploaded bundles with the platform, the rest with its data."""
        return self.storage if key.startswith("bundles/") else self.data_storage(record)

    def turn_credentials(self, record: ExperimentRecord, participant: str) -> dict[str, Any]:
        """TURN credentials for a participant of `record`'s experiment, read when asked (a Secret may change).

        The experiment's own TURN Secret where the embedded runtime keeps it (on Kubernetes the operator
        mounts it into the experiment's pods, which never ask), else the platform's; `{"urls": []}` without TURN.
        """
        turn, settings = record.experiment.spec.turn, self.settings
        if turn.secret and settings.runtime == "local":
            folder = settings.resolved_turn_secrets_dir / turn.secret
            secret = read_turn_secret(folder / "secret") if turn.secret_name else None
            if secret is not None:
                return turn_credentials(secret, participant, list(turn.urls))
            static = read_static_credentials(folder, list(turn.urls)) if turn.credentials_secret else None
            if static is not None:
                return static
            log.warning("experiment %s names TURN Secret %r, which is not in %s", record.name, turn.secret, folder)
        secret, urls = read_turn_secret(settings.turn_secret_file), list(settings.turn_urls)
        if secret is not None and urls:
            return turn_credentials(secret, participant, urls)
        return read_static_credentials(settings.turn_credentials_dir, urls) or {"urls": []}

    async def refresh(self, at_most_every_s: float = 0.2) -> None:
        """Bring the runtime's experiments up to date now (the researcher API reads what another replica wrote);
        concurrent callers share one refresh, and one within `at_most_every_s` of the last is skipped."""
        if time.monotonic() - self._refreshed < at_most_every_s:
            return
        async with self._refreshing:
            if time.monotonic() - self._refreshed >= at_most_every_s:
                await self.runtime.refresh()
                self._refreshed = time.monotonic()

    def router(self, name: str) -> Router:
        """The router of one experiment (kept in step with the runtime by the pod watcher)."""
        router = self.routers.get(name)
        if router is None:
            router = self.routers[name] = Router(0)
            self.sync_router(name)
        return router

    def sync_router(self, name: str) -> None:
        """Give an experiment's router the runtime's current pods and capacity."""
        record = self.runtime.get(name)
        router = self.routers.setdefault(name, Router(0))
        spec = record.experiment.spec if record else None
        router.sync(self.runtime.pods(name), spec.capacity if spec else 0, spec.group_size if spec else 1)

    def screening_writer(self, name: str) -> DataWriter:
        """Where failed entry checks of an experiment are recorded."""
        if name not in self.screening:
            writer = DataWriter(
                self.storage,
                name,
                "control-plane",
                self.settings.state_dir / "spool" / "control-plane" / name,
            )
            self.screening[name] = writer
        return self.screening[name]

    async def start(self) -> None:
        """Start the state store, the runtime and the pod watcher."""
        await self.state.start()
        await self.runtime.start()
        self._watcher = asyncio.create_task(self._watch(), name="pod-watcher")

    async def close(self) -> None:
        """Stop watching, flush screening records, stop the runtime."""
        if self._watcher is not None:
            self._watcher.cancel()
            await asyncio.gather(self._watcher, return_exceptions=True)
        for writer in self.screening.values():
            await writer.close()
        await self.state.close()
        await self.runtime.close()

    async def record_bundles(self) -> None:
        """Note each experiment's bundle where replays look for the code they may run (once per digest)."""
        for record in self.runtime.records():
            digest = record.bundle_digest
            if digest is None or (record.name, digest) in self._trusted:
                continue
            try:
                await asyncio.to_thread(record_trusted_bundle, self.storage, record.name, digest)
            except Exception as exc:  # not uploaded yet, or storage down: tried again at the next poll
                log.warning("cannot record bundle %s of %s for replays yet: %s", digest, record.name, exc)
                continue
            self._trusted.add((record.name, digest))

    async def poll_once(self, client: httpx.AsyncClient) -> None:
        """Ask every pod for its load, feed the routers, remember the reports (a bad one marks only its pod)."""
        await self.runtime.refresh()
        await self.record_bundles()
        current: set[str] = set()
        for record in self.runtime.records():
            self.sync_router(record.name)
            endpoints = self.runtime.pods(record.name)
            current.update(e.name for e in endpoints)
            await asyncio.gather(*(self._poll_pod(client, record.name, e) for e in endpoints))
        for gone in set(self.loads) - current:
            del self.loads[gone]
        for writer in self.screening.values():
            with contextlib.suppress(Exception):
                await writer.flush()

    async def _poll_pod(self, client: httpx.AsyncClient, experiment: str, endpoint: PodEndpoint) -> None:
        router = self.routers[experiment]
        try:
            report = await read_load(client, endpoint.load_url, endpoint.name, experiment)
        except httpx.ConnectError:
            reason = STARTING
            POD_REPORTS.labels(experiment, "unreachable").inc()
        except BadReport as exc:
            reason = str(exc)
            POD_REPORTS.labels(experiment, "bad").inc()
        else:
            POD_REPORTS.labels(experiment, "ok").inc()
            router.report(endpoint.name, report.participants, report.draining, report.ungrouped, report.arrived)
            self.loads[endpoint.name] = report.model_dump() | {"alive": True, "seen": time.time()}
            return
        router.mark_dead(endpoint.name)
        if self.loads.get(endpoint.name, {}).get("unhealthy") != reason and reason != STARTING:
            log.warning("game pod %s of %s is unhealthy and gets no one new: %s", endpoint.name, experiment, reason)
        self.loads[endpoint.name] = {"pod": endpoint.name, "experiment": experiment, "alive": False,
                                     "unhealthy": reason, "seen": time.time()}  # fmt: skip

    async def _watch(self) -> None:
        async with httpx.AsyncClient(timeout=1.0) as client:
            while True:
                try:
                    await self.poll_once(client)
                except Exception:
                    log.exception("pod watcher failed; retrying")
                await asyncio.sleep(self.settings.poll_interval_s)

    def target_reached(self, name: str) -> bool:
        """Whether the study has all the completed participants its spec asks for."""
        record = self.runtime.get(name)
        if record is None or record.experiment.spec.target_participants is None:
            return False
        if record.status.get("phase") == "Completed":  # the operator's word, on Kubernetes
            return True
        return int(self.stats(name)["completed"]) >= record.experiment.spec.target_participants

    def stats(self, name: str) -> dict[str, Any]:
        """Live counts of one experiment, summed over its pods, plus each pod's load."""
        pods = [self.loads.get(e.name, {"pod": e.name, "alive": False}) for e in self.runtime.pods(name)]
        totals = {key: sum(int(p.get(key, 0) or 0) for p in pods) for key in POD_COUNTERS}
        errors = [err | {"pod": p.get("pod")} for p in pods for err in p.get("errors", [])]
        record = self.runtime.get(name)
        return {
            "experiment": name,
            "paused": bool(record and record.paused),
            "pods": [
                {
                    k: p.get(k)
                    for k in (
                        "pod",
                        "participants",
                        "games",
                        "capacity",
                        "draining",
                        "spooled_chunks",
                        "storage_error",
                    )
                }
                | {"alive": p.get("alive", True)}
                for p in pods
            ],  # fmt: skip
            **totals,
            "errors": sorted(errors, key=lambda e: e.get("t_ns", 0))[-20:],
        }
