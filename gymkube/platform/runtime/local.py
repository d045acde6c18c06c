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

from gymkube.keys import experiment_key
from gymkube.platform.runtime.base import ExperimentRecord, PodEndpoint, RuntimeFailure
from gymkube.spec.experiment import Experiment
from gymkube.spec.load import ManifestError, parse_experiment
from gymkube.storage.backends import Storage

log = logging.getLogger(__name__)

POD_INHERITS = frozenset({"PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "PYTHONPATH", "PYTHONUNBUFFERED", "VIRTUAL_ENV"})
"""Variables of the control plane's environment a game pod keeps (the rest, secrets included, it never sees)."""
POD_SETTINGS_INHERITED = frozenset({
    "GYMKUBE_PYODIDE_URL", "GYMKUBE_PACKAGE_INDEX_URL", "GYMKUBE_FLUSH_INTERVAL_S", "GYMKUBE_MAX_MESSAGE_BYTES",
})  # fmt: skip
"""Game pod settings an operator of the machine may set for every pod through the control plane's environment."""


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
        self, state_dir: Path, storage: Storage, secret: str, control_plane_url: str,
        host: str = "127.0.0.1", drain_timeout_s: float = 30.0, sandbox_required: bool = False,
    ) -> None:  # fmt: skip
        self.state_dir = state_dir.resolve()
        self.storage = storage
        self.secret = secret
        """The platform secret: each experiment's pods get only a key derived from it."""
        self.control_plane_url = control_plane_url
        self.sandbox_required = sandbox_required
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
            "uid": record.uid,
        }
        path.write_text(json.dumps(body))
        return manifest_path

    def _bundle_dir(self, record: ExperimentRecord, source: str | None) -> Path | None:
        """The folder of the experiment's bundle, extracted from storage by digest.

        A folder beside the manifest (`spec.bundle: ./folder`) is stored as a bundle first, as an
        upload would be: its pods then run what storage holds under that digest, and `gymkube
        replay` trusts exactly that digest (see `ControlPlane.record_bundles`).
        """
        from gymkube.storage.bundles import BundleError, extract_bundle, load_bundle, store_bundle, zip_folder

        bundle = record.experiment.spec.bundle
        if bundle is None:
            return None
        try:
            if bundle.startswith("sha256:"):
                data = load_bundle(self.storage, bundle)
                digest = bundle
            else:
                if source is None:
                    raise RuntimeFailure("spec.bundle must name an uploaded bundle (sha256:...) for this runtime")
                folder = (Path(source) / bundle).resolve()
                if not folder.is_dir():
                    raise RuntimeFailure(f"spec.bundle {bundle!r}: no folder {folder}")
                data = zip_folder(folder)
                digest = store_bundle(self.storage, data).digest
                record.local_bundle_digest = digest
        except KeyError:
            raise RuntimeFailure(f"spec.bundle {bundle} has not been uploaded") from None
        except BundleError as exc:
            raise RuntimeFailure(f"spec.bundle {bundle}: {exc}") from None
        return extract_bundle(data, self.state_dir / "bundles" / digest.removeprefix("sha256:"))

    def _pod_env(
        self, record: ExperimentRecord, manifest: Path, pod_name: str, port: int, bundle_dir: Path | None
    ) -> dict[str, str]:
        """Only what a game pod needs: never the platform secret, the admin secret or storage credentials."""
        home = self.state_dir / "pods" / pod_name
        (home / "tmp").mkdir(parents=True, exist_ok=True)
        env = {name: value for name, value in os.environ.items() if name in POD_INHERITS}
        env |= {name: value for name, value in os.environ.items() if name in POD_SETTINGS_INHERITED}
        env |= {
            "HOME": str(home),
            "TMPDIR": str(home / "tmp"),
            "GYMKUBE_EXPERIMENT_FILE": str(manifest),
            "GYMKUBE_SPOOL_DIR": str(self.state_dir / "spool" / pod_name),
            "GYMKUBE_POD_NAME": pod_name,
            "GYMKUBE_SECRET": experiment_key(self.secret, record.namespace, record.name, record.uid),
            "GYMKUBE_CONTROL_PLANE_URL": self.control_plane_url,
            "GYMKUBE_HOST": self.host,
            "GYMKUBE_PORT": str(port),
            "GYMKUBE_DRAIN_TIMEOUT_S": str(self.drain_timeout_s),
            "GYMKUBE_PARENT_PID": str(os.getpid()),
            "GYMKUBE_SANDBOX": "landlock",
            "GYMKUBE_SANDBOX_REQUIRED": "true" if self.sandbox_required else "false",
            "GYMKUBE_SANDBOX_DENY": json.dumps([str(self.state_dir)]),
        }
        if bundle_dir is not None:
            env["GYMKUBE_BUNDLE_DIR"] = str(bundle_dir)
        return env

    def _launch(self, record: ExperimentRecord) -> list[LocalPod]:
        name = record.name
        bundle_dir = self._bundle_dir(record, self._sources.get(name))
        manifest = self._save(record)
        pods = []
        for index in range(record.experiment.spec.replicas):
            suffix = f"{index}" if record.generation == 1 else f"v{record.generation}-{index}"
            pod_name = f"{name}-{suffix}"
            port = free_port(self.host)
            env = self._pod_env(record, manifest, pod_name, port, bundle_dir)
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
                record.uid = body.get("uid") or record.uid
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
            record.created, record.generation, record.uid = old.created, old.generation + 1, old.uid
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

    async def stop_pods(self) -> None:
        """Drain and stop every pod (they flush through the control plane, which still serves)."""
        self.stopping = True
        await asyncio.to_thread(_stop_pods, self.local_pods(), self.drain_timeout_s + 5)

    async def close(self) -> None:
        """Drain and stop every pod."""
        await self.stop_pods()
