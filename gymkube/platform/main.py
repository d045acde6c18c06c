"""Building the control plane app: the REST API, the participant entry, the researcher dashboard and metrics."""

from __future__ import annotations

import contextlib
import logging
import secrets
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.routing import Route

from gymkube.metrics import metrics_endpoint, serve_metrics
from gymkube.platform import metrics
from gymkube.platform.api.routes import bundles, data, experiments, sessions
from gymkube.platform.dashboard import routes as dashboard_routes
from gymkube.platform.dashboard.service import Dashboard
from gymkube.platform.entry import make_entry_router
from gymkube.platform.internal import make_internal_router
from gymkube.platform.plane import ControlPlane
from gymkube.platform.runtime.base import Runtime
from gymkube.platform.settings import PlatformSettings, SettingsError
from gymkube.platform.state import open_state
from gymkube.spec.experiment import Experiment
from gymkube.storage.backends import open_storage

log = logging.getLogger(__name__)


def persistent_secret(state_dir: Path, name: str) -> str:
    """A random secret made once and kept (owner-only) in the state folder, so it survives restarts."""
    path = state_dir / name
    if not path.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def make_runtime(settings: PlatformSettings, secret: str) -> Runtime:
    """The runtime the settings name."""
    storage = open_storage(settings.storage_url)
    if settings.runtime == "kubernetes":
        from gymkube.kube import Kube, KubeError, load_configuration
        from gymkube.platform.runtime.kubernetes import KubernetesRuntime

        try:
            configuration, namespace = load_configuration()
        except KubeError as exc:
            raise SettingsError(f"the kubernetes runtime needs credentials: {exc}") from None
        return KubernetesRuntime(Kube(configuration), namespace, settings.public_url)
    from gymkube.platform.runtime.local import LocalRuntime

    return LocalRuntime(
        settings.state_dir,
        storage,
        secret,
        settings.resolved_internal_url,
        drain_timeout_s=settings.drain_timeout_s,
        sandbox_required=settings.sandbox_required,
    )


def build_app(
    settings: PlatformSettings,
    runtime: Runtime | None = None,
    initial: list[tuple[Experiment, Path]] | None = None,
) -> FastAPI:
    """The control plane; `initial` experiments (from local files) are applied at startup."""
    settings.check()
    # Participant tokens are signed with this; game pods verify them with the same secret.
    secret = settings.secret or persistent_secret(settings.state_dir, "secret")
    runtime = runtime or make_runtime(settings, secret)
    state = open_state(settings.state_dir, runtime)
    plane = ControlPlane(settings, open_storage(settings.storage_url), runtime, secret, state)
    dashboard = Dashboard(plane, (settings.dashboard_dir or settings.state_dir) / "dashboard.sqlite")
    metrics.watch(dashboard)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await plane.start()
        await dashboard.start()
        stop_metrics = serve_metrics(settings.metrics_port, settings.host) if settings.metrics_port else None
        try:
            for experiment, manifest in initial or []:
                await runtime.apply(experiment, source=str(manifest.parent))
            await _wait_for_pods(plane)
            for record in plane.runtime.records():
                sys.stdout.write(f"Participant URL for {record.name!r}: {settings.public_url}/x/{record.name}\n")
            where = f" or {settings.state_dir / 'admin-secret'}" if settings.dev else ""
            sys.stdout.write(
                f"Researcher API: {settings.public_url}/docs   Dashboard: {settings.public_url}/admin "
                f"(secret: GYMKUBE_ADMIN_SECRET{where})\n"
                f"Data is written to {settings.storage_url}; press Ctrl-C to stop.\n"
            )
            sys.stdout.flush()
            yield
        finally:
            if stop_metrics is not None:
                stop_metrics()
            await dashboard.close()
            await plane.close()

    app = FastAPI(
        title="gymkube",
        summary="Browser experiments with Gymnasium environments: researcher API and participant entry.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.plane = plane
    app.state.dashboard = dashboard
    app.include_router(make_entry_router(plane))  # first: the hot path is matched before the API
    for module in (experiments, bundles, sessions, data):
        app.include_router(module.router)
    app.include_router(dashboard_routes.router)
    app.mount("/admin/static", StaticFiles(directory=dashboard_routes.STATIC), name="dashboard-static")
    app.add_middleware(dashboard_routes.DashboardHeaders)
    app.include_router(make_internal_router(plane))
    if not settings.metrics_port:  # on a cluster the metrics have a port of their own, which no Ingress routes to
        app.router.routes.append(Route("/metrics", metrics_endpoint, include_in_schema=False))

    @app.get("/healthz", tags=["health"])
    async def health() -> dict[str, bool]:
        """The control plane answers."""
        return {"ok": True}

    return app


async def _wait_for_pods(plane: ControlPlane, timeout_s: float = 60.0) -> None:
    """Until every pod has answered a load poll once, well or badly (bounded: a pod that never
    listens costs at most `timeout_s`; one that answers badly is marked unhealthy and not waited for)."""
    import asyncio

    import httpx

    from gymkube.platform.plane import STARTING

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    async with httpx.AsyncClient(timeout=1.0) as client:
        while loop.time() < deadline:
            await plane.poll_once(client)
            loads = [plane.loads.get(p.name, {}) for r in plane.runtime.records() for p in plane.runtime.pods(r.name)]
            if all(load.get("alive") or load.get("unhealthy", STARTING) != STARTING for load in loads):
                return
            await asyncio.sleep(0.1)
    log.warning("some game pods did not answer within %.0f s", timeout_s)
