"""Shared fixtures: the embedded platform as a real process, manifests tweaked for speed."""

from __future__ import annotations

import importlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pyarrow as pa
import pytest
import yaml

from gymkube.platform.runtime.local import free_port
from gymkube.storage import LocalStorage
from gymkube.storage.export import read_tables

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
FORAGE_DIR = EXAMPLES / "forage"


def quick_manifest(tmp_path: Path, example: str, **gym_overrides: Any) -> Path:
    """A copy of an example with no reading pauses or countdowns (and any gym overrides)."""
    document = yaml.safe_load((EXAMPLES / example).read_text())
    spec = document["spec"]
    if spec.get("bundle"):
        spec["bundle"] = str((EXAMPLES / spec["bundle"]).resolve())
    for scene in spec["scenes"]:
        if scene["type"] == "static":
            scene["minTimeS"] = 0
        if scene["type"] == "gym":
            scene["countdownS"] = 0
            scene.update(gym_overrides)
    path = tmp_path / example
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def zip_folder(folder: Path) -> bytes:
    """A folder as a zip, as a researcher would upload it (caches left out)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                archive.write(path, path.relative_to(folder).as_posix())
    return buffer.getvalue()


@contextmanager
def game_pod_process(tmp_path: Path, document: dict[str, Any], **settings: str) -> Iterator[int]:
    """A real `gymkube game-pod` process for the experiment on a free port, until the block ends.

    `settings` become GYMKUBE_<NAME> variables (e.g. secret="...", pod_name="gx-x-0").
    """
    manifest = tmp_path / "experiment.json"
    manifest.write_text(json.dumps(document))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GYMKUBE_")},
        "GYMKUBE_EXPERIMENT_FILE": str(manifest),
        "GYMKUBE_STORAGE": str(tmp_path / "storage"),
        "GYMKUBE_SPOOL_DIR": str(tmp_path / "spool"),
        "GYMKUBE_PORT": str(port),
        **{f"GYMKUBE_{name.upper()}": value for name, value in settings.items()},
    }
    process = subprocess.Popen([sys.executable, "-m", "gymkube", "game-pod"], env=env)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and process.poll() is None, "the game pod did not start"
            time.sleep(0.1)
        yield port
    finally:
        process.terminate()
        process.wait(30)


class Platform:
    """`gymkube up` running in a subprocess on a free port, with its own data folder."""

    def __init__(self, manifests: list[Path], data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.data_dir = data_dir
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "platform.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gymkube", "up", *map(str, manifests),
             "--port", str(self.port), "--data", str(data_dir)],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while b"Researcher API" not in self.log_path.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("platform did not start:\n" + self.log_path.read_text())
            time.sleep(0.1)

    def entry(self, name: str, **params: str) -> str:
        """The participant entry URL with query parameters."""
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"{self.base}/x/{name}" + (f"?{query}" if query else "")

    def token(self, name: str, experiments: str | None = None) -> str:
        """A researcher token made with `gymkube token create`."""
        scope = ["--experiments", experiments] if experiments else []
        result = subprocess.run(
            [sys.executable, "-m", "gymkube", "token", "create", name, "--state", str(self.data_dir), *scope],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return result.stdout.strip()

    def pod_pids(self) -> list[int]:
        """Process ids of the game pods (children of the platform)."""
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]

    def stop(self) -> None:
        """Ctrl-C: pods drain and flush; bounded wait."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=45)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()

    def gymkube(self, command: str, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        """`gymkube replay|check NAME` over this platform's storage."""
        argv = [sys.executable, "-m", "gymkube", command, name, "--data", str(self.data_dir / "storage"), *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=120)

    def replay(self, name: str, *args: str) -> subprocess.CompletedProcess[str]:
        """`gymkube replay NAME` over this platform's storage."""
        return self.gymkube("replay", name, *args)

    def assert_data_sound(self, name: str) -> None:
        """`gymkube check` finds no problem and every recorded episode replays identically."""
        checked = self.gymkube("check", name)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        result = self.replay(name)
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.strip().endswith("episodes replay identically (100.0%)"), result.stdout

    def finish(self, name: str) -> dict[str, list[dict[str, Any]]]:
        """Stop the platform (Ctrl-C), assert the data is sound (`check` clean, `replay` 100%), return its tables."""
        self.stop()
        self.assert_data_sound(name)
        return self.tables(name)

    def admin_overview(self) -> dict[str, Any]:
        """What the dashboard shows of every experiment right now (signed in with the secret `gymkube up` made)."""
        secret = (self.data_dir / "admin-secret").read_text().strip()
        with httpx.Client(base_url=self.base, timeout=10) as admin:
            assert admin.post("/admin/login", data={"secret": secret}).status_code == 303
            names = [e["name"] for e in admin.get("/admin/api/experiments").json()["experiments"]]
            return {"experiments": [admin.get(f"/admin/api/experiments/{n}/live").json() for n in names]}

    def tables(self, name: str) -> dict[str, list[dict[str, Any]]]:
        """Every table of an experiment as lists of rows, read from storage."""
        merged: dict[str, pa.Table] = read_tables(LocalStorage(self.data_dir / "storage"), name)
        return {table: rows.to_pylist() for table, rows in merged.items()}


@pytest.fixture
def platform_factory(tmp_path: Path) -> Iterator[Any]:
    """Start platforms for manifests; all are stopped at the end of the test."""
    started: list[Platform] = []

    def start(*manifests: Path, env: dict[str, str] | None = None) -> Platform:
        platform = Platform(list(manifests), tmp_path / f"data{len(started)}", env)
        started.append(platform)
        return platform

    yield start
    for platform in started:
        platform.stop()


@pytest.fixture(scope="module")
def forage() -> Iterator[ModuleType]:
    """examples/forage/forage_env.py, imported the way the game pod does (folder on sys.path), afresh.

    In-process games of other tests (tests/game_pod) import it from the same folder and may leave it behind."""
    sys.modules.pop("forage_env", None)
    sys.path.insert(0, str(FORAGE_DIR))
    try:
        yield importlib.import_module("forage_env")
    finally:
        sys.path.remove(str(FORAGE_DIR))
        sys.modules.pop("forage_env", None)
