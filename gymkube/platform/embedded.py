"""`gymkube up`: the control plane's entry plus local game pods, on one machine."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from gymkube.platform.entry import ExperimentEntry, make_entry_router
from gymkube.platform.routing import PodInfo, Router
from gymkube.platform.runtime.local import LocalRuntime
from gymkube.spec import ManifestError, load_experiment_file
from gymkube.spec.experiment import Experiment

log = logging.getLogger(__name__)


def persistent_secret(data_dir: Path) -> str:
    """The token secret, kept in the data folder so links keep working across restarts."""
    path = data_dir / "secret"
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


async def _watch_pods(runtime: LocalRuntime, entries: dict[str, ExperimentEntry]) -> None:
    async with httpx.AsyncClient(timeout=1.0) as client:
        while True:
            runtime.restart_crashed()
            for pod in runtime.pods.values():
                router = entries[pod.experiment].router
                try:
                    load = (await client.get(f"{pod.url}load")).json()
                    router.report(pod.name, int(load["participants"]), bool(load["draining"]))
                except (httpx.HTTPError, ValueError, KeyError):
                    router.mark_dead(pod.name)
            await asyncio.sleep(1.0)


async def _wait_ready(runtime: LocalRuntime, timeout_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    async with httpx.AsyncClient(timeout=1.0) as client:
        for pod in runtime.pods.values():
            while True:
                if not pod.running:
                    raise RuntimeError(f"game pod {pod.name} exited while starting; see its log above")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{pod.url}healthz")).status_code == 200:
                        break
                if asyncio.get_running_loop().time() > deadline:
                    raise RuntimeError(f"game pod {pod.name} did not start within {timeout_s:.0f} s")
                await asyncio.sleep(0.1)


def build_embedded_app(
    experiments: list[tuple[Experiment, Path]], data_dir: Path, public_url: str
) -> FastAPI:
    """The embedded control plane: starts pods at startup, stops (drains) them at shutdown."""
    secret = persistent_secret(data_dir)
    runtime = LocalRuntime(data_dir, secret)
    entries: dict[str, ExperimentEntry] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for experiment, manifest in experiments:
            pods = runtime.start_experiment(experiment, manifest)
            router = Router({p.name: PodInfo(p.name, p.url, experiment.spec.capacity) for p in pods})
            entries[experiment.name] = ExperimentEntry(experiment, router)
        watcher = None
        try:
            await _wait_ready(runtime)
            watcher = asyncio.create_task(_watch_pods(runtime, entries))
            for name in entries:
                sys.stdout.write(f"Participant URL for {name!r}: {public_url}/x/{name}\n")
            sys.stdout.write(f"Data is written to {data_dir / 'storage'}; press Ctrl-C to stop.\n")
            sys.stdout.flush()
            yield
        finally:
            if watcher is not None:
                watcher.cancel()
            await asyncio.to_thread(runtime.stop_all)

    app = FastAPI(title="gymkube (embedded)", lifespan=lifespan)
    app.include_router(make_entry_router(entries, secret))
    app.state.runtime = runtime
    app.state.entries = entries
    return app


def run_embedded(files: list[Path], host: str, port: int, data_dir: Path) -> int:
    """Validate the manifests, then serve until Ctrl-C; returns the exit code."""
    experiments: list[tuple[Experiment, Path]] = []
    for path in files:
        try:
            experiments.extend((e, path.resolve()) for e in load_experiment_file(path))
        except ManifestError as exc:
            sys.stderr.write(exc.render() + "\n")
            return 2
    names = [e.name for e, _ in experiments]
    if len(set(names)) != len(names):
        sys.stderr.write(f"two experiments share a name: {sorted(names)}\n")
        return 2
    app = build_embedded_app(experiments, data_dir, f"http://{host}:{port}")
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0
