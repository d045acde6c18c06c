"""The game pod's ASGI app: socket.io events and the HTTP routes, wrapped in one ASGIApp."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import socketio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gymkube.game_pod import browser, metrics, pages, unity_build
from gymkube.game_pod.control import control_routes
from gymkube.game_pod.events import CheckedPacket, register_events
from gymkube.game_pod.live import live_report
from gymkube.game_pod.pod import Pod
from gymkube.game_pod.settings import PodSettings
from gymkube.metrics import metrics_endpoint
from gymkube.spec.load import load_experiment_file

log = logging.getLogger(__name__)

CLOSE_MESSAGE_TOO_BIG = 1009


class LogOversize:
    """ASGI wrapper: say in the log when a websocket is closed for a message over the size limit.

    uvicorn closes such a connection (code 1009) before socket.io sees the message, and socket.io
    only learns of a closed transport; this names the reason.
    """

    def __init__(self, app: Any, limit: int, pod: Pod) -> None:
        self.app, self.limit, self.pod = app, limit, pod

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return

        async def watched() -> Any:
            message = await receive()
            if message.get("type") == "websocket.disconnect" and message.get("code") == CLOSE_MESSAGE_TOO_BIG:
                client = scope.get("client") or ("?", 0)
                log.warning(
                    "closed the connection from %s:%s: a message was too large (oversize; limit %d bytes)",
                    *client, self.limit,
                )  # fmt: skip
            return message

        await self.app(scope, watched, send)


def build_app(settings: PodSettings) -> LogOversize:
    """The whole game pod: socket.io on `{base}socket.io`, HTTP routes beside it."""
    experiment = load_experiment_file(settings.experiment_file)[0]
    sio = socketio.AsyncServer(
        async_mode="asgi",
        serializer=CheckedPacket,
        always_connect=True,
        # A client's events are handled in order on its own connection's reader, not as one task each
        # (task creation per key press showed in the profile at 160 sessions).
        async_handlers=False,
        max_http_buffer_size=settings.max_message_bytes,
        cors_allowed_origins=[],
        ping_interval=5,
        ping_timeout=10,
    )
    pod = Pod(settings, experiment, sio)
    register_events(sio, pod)
    static_dir = settings.static_dir

    async def index(request: Request) -> Response:
        return FileResponse(static_dir / "index.html", headers={"Cache-Control": "no-store"})

    async def health(request: Request) -> Response:
        return JSONResponse({"ok": True, "draining": pod.draining})

    async def ready(request: Request) -> Response:
        if pod.accepting:
            return JSONResponse({"ready": True})
        why = pod.writer.failure or ("stopping" if pod.stopping else f"halted: {pod.halted}")
        return JSONResponse({"ready": False, "why": why}, status_code=503)

    async def load(request: Request) -> Response:
        return JSONResponse(pod.load() | live_report(pod))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await pod.start()
        metrics.watch(pod)
        app.state.pod = pod
        yield
        await pod.close()

    base = settings.resolved_base_path
    prefix = "" if base == "/" else base

    async def to_base(request: Request) -> Response:
        return RedirectResponse(f"{prefix}/?{request.url.query}" if request.url.query else f"{prefix}/")

    routes = [
        # Prometheus and the control plane's actions reach the pod at its root, never through the public path.
        Route("/metrics", metrics_endpoint),
        *control_routes(pod),
        Route(f"{prefix}/", index),
        Route(f"{prefix}/healthz", health),
        Route(f"{prefix}/readyz", ready),
        Route(f"{prefix}/load", load),
        *pages.routes(prefix, pod),
        *browser.routes(prefix, pod),
        *unity_build.routes(prefix, pod),
        browser.vendor_route(prefix, static_dir),
        Mount(f"{prefix}/static", StaticFiles(directory=static_dir), name="static"),
    ]
    if prefix:  # probes and the operator reach the pod at its root; a URL without the slash still works
        routes += [Route("/healthz", health), Route("/readyz", ready), Route("/load", load), Route(prefix, to_base)]
    http = Starlette(
        routes=routes, lifespan=lifespan, middleware=[Middleware(pages.SecurityHeaders, pod=pod, prefix=prefix)]
    )
    http.state.pod = pod
    app = socketio.ASGIApp(sio, other_asgi_app=http, socketio_path=f"{prefix}/socket.io")
    return LogOversize(app, settings.max_message_bytes, pod)
