"""The local runtime: each experiment's game pods as processes on this machine."""

from __future__ import annotations

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

from gymkube.spec.experiment import Experiment

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
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0

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


class LocalRuntime:
    """Starts, watches (restarting crashed pods, as Kubernetes would) and stops game pods."""

    def __init__(self, data_dir: Path, secret: str, host: str = "127.0.0.1") -> None:
        self.data_dir = data_dir.resolve()
        self.secret = secret
        self.host = host
        self.pods: dict[str, LocalPod] = {}
        self.stopping = False

    def start_experiment(self, experiment: Experiment, manifest: Path) -> list[LocalPod]:
        """Write the validated spec where its pods read it, and start `spec.replicas` pods."""
        name = experiment.name
        spec_path = self.data_dir / "experiments" / f"{name}.json"
        spec_path.parent.mkdir(parents=True, exist_ok=True)
        spec_path.write_text(json.dumps(experiment.model_dump(mode="json", by_alias=True)))
        bundle = (manifest.parent / experiment.spec.bundle).resolve() if experiment.spec.bundle else None
        started = []
        for index in range(experiment.spec.replicas):
            pod_name = f"{name}-{index}"
            port = free_port(self.host)
            env = {
                **os.environ,
                "GYMKUBE_EXPERIMENT_FILE": str(spec_path),
                "GYMKUBE_STORAGE": str(self.data_dir / "storage"),
                "GYMKUBE_SPOOL_DIR": str(self.data_dir / "spool" / pod_name),
                "GYMKUBE_POD_NAME": pod_name,
                "GYMKUBE_SECRET": self.secret,
                "GYMKUBE_HOST": self.host,
                "GYMKUBE_PORT": str(port),
            }
            if bundle is not None:
                env["GYMKUBE_BUNDLE_DIR"] = str(bundle)
            pod = LocalPod(pod_name, name, port, env)
            pod.start()
            self.pods[pod_name] = pod
            started.append(pod)
        return started

    def restart_crashed(self) -> list[LocalPod]:
        """Relaunch pods whose process died (not while stopping)."""
        restarted = []
        for pod in self.pods.values():
            if not self.stopping and not pod.running:
                code = pod.process.returncode if pod.process else None
                log.warning("game pod %s exited (code %s); restarting it", pod.name, code)
                pod.restarts += 1
                pod.start()
                restarted.append(pod)
        return restarted

    def stop_all(self, timeout_s: float = 30.0) -> None:
        """SIGTERM every pod (they drain and flush), wait, then SIGKILL stragglers."""
        self.stopping = True
        for pod in self.pods.values():
            if pod.running and pod.process is not None:
                pod.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for pod in self.pods.values():
            if pod.process is None:
                continue
            try:
                pod.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.error("game pod %s did not stop in time; killing it", pod.name)
                pod.process.kill()
                pod.process.wait()
