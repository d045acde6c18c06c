"""The three servers under test, each started as its own process pinned to core 0."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from gymkube.keys import token_key
from gymkube.tokens import sign_token

ROOT = Path(__file__).resolve().parents[1]
PEERS = Path(__file__).resolve().parent / "peers"
PEER_VENVS = Path(__file__).resolve().parent / ".peers"
SERVER_CORE = 0
SECRET = "capacity-benchmark-secret"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """Terminate a server process; kill it when it has not exited within `timeout_s`."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def gymkube_experiment() -> dict[str, Any]:
    """examples/cartpole.yaml reduced to its game and end: no countdown, 1000 episodes of up to 500 steps."""
    document = yaml.safe_load((ROOT / "examples" / "cartpole.yaml").read_text())
    spec = document["spec"]
    spec["scenes"] = [scene for scene in spec["scenes"] if scene["type"] in ("gym", "end")]
    spec["scenes"][0].update(countdownS=0, episodes=1000, maxSteps=500)
    spec["capacity"] = 5000
    return dict(document)


class Server:
    """One system's server process on a free port; `stop()` ends it.

    gymkube serves the CartPole experiment unless `experiment` (a manifest document) and its `bundle` are given.
    """

    def __init__(self, system: str, experiment: dict[str, Any] | None = None, bundle: Path | None = None) -> None:
        self.system = system
        self.document = experiment or gymkube_experiment()
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.tmp = tempfile.TemporaryDirectory(prefix=f"bench-{system}-")
        folder = Path(self.tmp.name)
        env = {k: v for k, v in os.environ.items() if not k.startswith("GYMKUBE_")}
        if system == "gymkube":
            (folder / "experiment.json").write_text(json.dumps(self.document))
            env |= {"GYMKUBE_BUNDLE_DIR": str(bundle)} if bundle else {}
            env |= {
                "GYMKUBE_EXPERIMENT_FILE": str(folder / "experiment.json"),
                "GYMKUBE_STORAGE": str(folder / "storage"),
                "GYMKUBE_SPOOL_DIR": str(folder / "spool"),
                "GYMKUBE_PORT": str(self.port),
                "GYMKUBE_SECRET": SECRET,
            }
            argv = [sys.executable, "-m", "gymkube", "game-pod"]
            ready = f"{self.base_url}/healthz"
        else:
            venv = PEER_VENVS / system
            script = PEERS / ("interactive_gym_server.py" if system == "interactive-gym" else "mug_server.py")
            argv = [str(venv / "bin" / "python"), str(script), str(self.port)]
            ready = f"{self.base_url}/"
        self.log = open(folder / "server.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            ["taskset", "-c", str(SERVER_CORE), *argv], cwd=folder, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(ready, timeout=1)
                break
            except httpx.HTTPError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"{system} did not start:\n{self.log_text()}") from None
                time.sleep(0.1)

    @property
    def pid(self) -> int:
        """The server's process id (taskset execs it)."""
        return self.process.pid

    def token(self, index: int) -> str:
        """A participant token as the gymkube entry would issue it."""
        name = self.document["metadata"]["name"]
        return sign_token(token_key(SECRET), {"x": name, "p": f"bench-{index}", "s": f"s{index}", "n": index, "q": {}})

    def log_text(self) -> str:
        """The server's output so far (last 3000 characters)."""
        self.log.flush()
        return (Path(self.tmp.name) / "server.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        """Terminate (then kill) the process and remove its folder."""
        stop_process(self.process, 10)
        self.log.close()
        self.tmp.cleanup()
