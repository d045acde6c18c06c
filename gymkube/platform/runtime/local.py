"""The local runtime: each experiment's game pods as processes on this machine."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from gymkube.platform.runtime.base import ExperimentRecord, PodEndpoint, RuntimeFailure
from gymkube.spec.experiment import Experiment
from gymkube.spec.load import ManifestError, parse_experiment
from gymkube.storage.backends import Storage

log = logging.getLogger(__name__)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalPod:
    """One game pod process."""

    name: str
    experiment: str
    generation: int
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_restart: float = 0.0

    @property
    def url(self) -> str:
        """Where participants reach it."""
        return f"http://{self.env['GYMKUBE_HOST']}:{self.port}/"

    def start(self) -> None:
        """Launch (or relaunch) the process."""
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gymkube", "game-pod"], env=self.env, start_new_session=True
        )

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    def terminate(self) -> None:
        """SIGTERM: the pod drains and flushes, then exits."""
        if self.running and self.process is not None:
            self.process.send_signal(signal.SIGTERM)


def _stop_pods(pods: list[LocalPod], timeout_s: float) -> None:
    for pod in pods:
        pod.terminate()
    deadline = time.monotonic() + timeout_s
    for pod in pods:
        if pod.process is None:
            continue
        try:
            pod.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log.error("game pod %s did not stop in time; killing it", pod.name)
            pod.process.kill()
            pod.process.wait()


class LocalRuntime:
    """Runs, watches (restarting crashed pods, as Kubernetes would) and stops game pods."""

    def __init__(
        self, state_dir: Path, storage: Storage, storage_url: str, secret: str,
        host: str = "127.0.0.1", drain_timeout_s: float = 30.0,
    ) -> None:  # fmt: skip
        self.state_dir = state_dir.resolve()
        self.storage = storage
        self.storage_url = storage_url
        self.secret = secret
        self.host = host
        self.drain_timeout_s = drain_timeout_s
        self._records: dict[str, ExperimentRecord] = {}
        self._sources: dict[str, str | None] = {}
        self._pods: dict[str, list[LocalPod]] = {}
        self.stopping = False

    def _record_path(self, name: str) -> Path:
        return self.state_dir / "experiments" / f"{name}.json"

    def _save(self, record: ExperimentRecord) -> Path:
        """Write the runtime's record and the manifest its pods read; return the manifest's path."""
        path = self._record_path(record.name)
        path.parent.mkdir(parents=True, exist_ok=True)
        manifest = record.experiment.model_dump(mode="json", by_alias=True, exclude_none=True)
        manifest_path = self.state_dir / "manifests" / f"{record.name}-{record.generation}.json"
        manifest_path.parent.mkdir(parents=True, exist_ok=True)
        manifest_path.write_text(json.dumps(manifest))
        body = {
            "manifest": manifest,
            "generation": record.generation,
            "created": record.created,
            "source": self._sources.get(record.name),
        }
        path.write_text(json.dumps(body))
        return manifest_path

    def _bundle_dir(self, experiment: Experiment, source: str | None) -> Path | None:
        bundle = experiment.spec.bundle
        if bundle is None:
            return None
        if bundle.startswith("sha256:"):
            from gymkube.storage.bundles import extract_bundle, load_bundle

            try:
                data = load_bundle(self.storage, bundle)
            except KeyError:
                raise RuntimeFailure(f"spec.bundle {bundle} has not been uploaded") from None
            return extract_bundle(data, self.state_dir / "bundles" / bundle.removeprefix("sha256:"))
        if source is None:
            raise RuntimeFailure("spec.bundle must name an uploaded bundle (sha256:...) for this runtime")
        return (Path(source) / bundle).resolve()

    def _launch(self, record: ExperimentRecord) -> list[LocalPod]:
        name = record.name
        bundle_dir = self._bundle_dir(record.experiment, self._sources.get(name))
        spec_path = self._save(record)
        pods = []
        for index in range(record.experiment.spec.replicas):
            suffix = f"{index}" if record.generation == 1 else f"v{record.generation}-{index}"
            pod_name = f"{name}-{suffix}"
            port = free_port(self.host)
            env = {
                **os.environ,
                "GYMKUBE_EXPERIMENT_FILE": str(spec_path),
                "GYMKUBE_STORAGE": self.storage_url,
                "GYMKUBE_SPOOL_DIR": str(self.state_dir / "spool" / pod_name),
                "GYMKUBE_POD_NAME": pod_name,
                "GYMKUBE_SECRET": self.secret,
                "GYMKUBE_HOST": self.host,
                "GYMKUBE_PORT": str(port),
                "GYMKUBE_DRAIN_TIMEOUT_S": str(self.drain_timeout_s),
            }
            if bundle_dir is not None:
                env["GYMKUBE_BUNDLE_DIR"] = str(bundle_dir)
            pod = LocalPod(pod_name, name, record.generation, port, env)
            pod.start()
            pods.append(pod)
        return pods

    async def start(self) -> None:
        """Start the pods of every experiment recorded in the state folder."""
        for path in sorted((self.state_dir / "experiments").glob("*.json")):
            try:
                body = json.loads(path.read_text())
                experiment = parse_experiment(body["manifest"], str(path))
                record = ExperimentRecord(experiment, body["generation"], body["created"])
            except (ManifestError, ValueError, KeyError, TypeError) as exc:
                # Written by an older gymkube, or edited by hand: the experiment is not lost
                # (its data stays in storage); applying its manifest again brings it back.
                log.warning("ignoring %s: not a record this version can read (%s)", path, exc)
                continue
            self._records[record.name] = record
            self._sources[record.name] = body.get("source")
            self._pods[record.name] = self._launch(record)

    async def apply(self, experiment: Experiment, source: str | None = None) -> ExperimentRecord:
        """Create, or roll: new pods start first, the old ones drain in the background."""
        name = experiment.name
        old = self._records.get(name)
        if old is not None and old.experiment == experiment and (source is None or source == self._sources.get(name)):
            return old  # unchanged: nothing to roll
        record = ExperimentRecord(experiment)
        if old is not None:
            record.created, record.generation = old.created, old.generation + 1
        self._sources[name] = source if source is not None else self._sources.get(name)
        new_pods = await asyncio.to_thread(self._launch, record)
        old_pods = self._pods.get(name, [])
        self._records[name], self._pods[name] = record, new_pods
        if old_pods:
            asyncio.get_running_loop().run_in_executor(None, _stop_pods, old_pods, self.drain_timeout_s + 5)
        return record

    async def delete(self, name: str) -> None:
        """Drain and stop the pods (their data is flushed as they exit), then forget it."""
        pods = self._pods.pop(name, [])
        self._records.pop(name, None)
        await asyncio.to_thread(_stop_pods, pods, self.drain_timeout_s + 5)
        self._record_path(name).unlink(missing_ok=True)

    async def set_paused(self, name: str, paused: bool) -> ExperimentRecord:
        """Set `spec.paused` (the entry stops admitting new participants; pods keep running)."""
        record = self._records[name]
        spec = record.experiment.spec.model_copy(update={"paused": paused})
        record.experiment = record.experiment.model_copy(update={"spec": spec})
        self._save(record)
        return record

    async def refresh(self) -> None:
        """Relaunch crashed pods (the records themselves live here)."""
        self.restart_crashed()

    def get(self, name: str) -> ExperimentRecord | None:
        """The record, or None."""
        return self._records.get(name)

    def records(self) -> list[ExperimentRecord]:
        """Every experiment."""
        return list(self._records.values())

    def pods(self, name: str) -> list[PodEndpoint]:
        """The experiment's pods of the current generation."""
        return [PodEndpoint(p.name, p.url, p.experiment, p.generation) for p in self._pods.get(name, [])]

    def local_pods(self) -> list[LocalPod]:
        """Every pod process (for the watcher and the tests)."""
        return [pod for pods in self._pods.values() for pod in pods]

    def restart_crashed(self) -> None:
        """Relaunch pods whose process died, backing off when one keeps crashing."""
        now = time.monotonic()
        for pod in self.local_pods():
            if self.stopping or pod.running or now < pod.next_restart:
                continue
            code = pod.process.returncode if pod.process else None
            delay = min(30.0, 2.0**pod.restarts) if pod.restarts else 0.0
            log.warning("game pod %s exited (code %s); restarting it", pod.name, code)
            pod.restarts += 1
            pod.next_restart = now + delay
            pod.start()

    async def close(self) -> None:
        """Drain and stop every pod."""
        self.stopping = True
        await asyncio.to_thread(_stop_pods, self.local_pods(), self.drain_timeout_s + 5)
