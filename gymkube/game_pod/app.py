"""The game pod's ASGI app: socket.io events and the HTTP routes, wrapped in one ASGIApp."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import socketio
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from gymkube.game_pod import browser, pages
from gymkube.game_pod.limits import RateLimiter
from gymkube.game_pod.pod import Pod
from gymkube.game_pod.protocol import Event
from gymkube.game_pod.remote import BadEntry, RemoteGame
from gymkube.game_pod.settings import PodSettings
from gymkube.spec.load import load_experiment_file
from gymkube.tokens import TokenError, verify_token

log = logging.getLogger(__name__)

MAX_UNKNOWN_RECORDED = 10
"""Unknown events recorded per connection (all are ignored and rate-limited)."""
CLOSE_MESSAGE_TOO_BIG = 1009
MAX_RELAY_CHARS = 32 * 1024
"""A relayed p2p packet (inputs, a hash, or a state for a resync) is at most this long."""


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


def register_events(sio: socketio.AsyncServer, pod: Pod) -> None:
    """Wire the socket.io events of the protocol table to the pod."""
    limits: dict[str, RateLimiter] = {}

    async def refuse(sid: str, reason: str, message: str) -> bool:
        await sio.emit(Event.REFUSED, {"reason": reason, "message": message}, to=sid)
        return False

    async def unknown(sid: str, name: Any) -> None:
        """An event the protocol does not have: counted against the rate limit, the first few recorded."""
        session = await session_for(sid)
        limiter = limits.get(sid)
        if session is None or limiter is None:
            return
        limiter.unknown += 1
        if limiter.unknown <= MAX_UNKNOWN_RECORDED:
            what = str(name)[:64]
            log.info("ignored an unknown event %r from %s", what, sid)
            pod.event(session, "unknown_event", {"event": what})

    @sio.on("*")
    async def any_other(event: Any, sid: str, *_: Any) -> None:
        await unknown(sid, event)

    @sio.event
    async def connect(sid: str, environ: Any = None, auth: Any = None, *_: Any) -> bool | None:
        if sid in limits:  # an event named "connect" from a page that is already connected
            await unknown(sid, "connect")
            return None
        auth = auth if isinstance(auth, dict) else {}
        try:
            claims = verify_token(pod.token_key, auth.get("token"), pod.experiment.name)
        except TokenError as exc:
            log.info("refused a connection: %s", exc)
            return await refuse(sid, "token", "This link is not valid. Please use the link you were given.")
        known = claims["p"] in pod.sessions
        if not known and (pod.draining or len(pod.sessions) >= pod.spec.capacity):
            return await refuse(sid, "busy", "This study is busy right now. Please try again in a minute.")
        session = await pod.open_session(claims)
        if session.sid is not None:
            pod.event(session, "duplicate_refused", {"sid": sid})
            return await refuse(
                sid,
                "duplicate",
                "This study is already open in another tab or window. Please use that one.",
            )
        limits[sid] = RateLimiter()
        pod.by_sid[sid] = session
        client = auth.get("client") if isinstance(auth.get("client"), dict) else {}
        await session.attach(sid, {k: client[k] for k in list(client)[:10]})
        return True

    @sio.event
    async def disconnect(sid: str, reason: Any = None, *_: Any) -> None:
        if sio.manager.is_connected(sid, "/"):  # an event named "disconnect" from a connected page
            await unknown(sid, "disconnect")
            return
        limits.pop(sid, None)
        session = pod.by_sid.pop(sid, None)
        if session is not None and session.sid == sid:
            session.detach()

    async def session_for(sid: str) -> Any:
        limiter = limits.get(sid)
        if limiter is None:
            return None
        if not limiter.allow():
            if limiter.flooding:
                log.warning("disconnecting %s: %d events in one second", sid, limiter.window_count)
                session = pod.by_sid.get(sid)
                if session is not None:
                    pod.event(session, "flood_disconnect", {"events": limiter.window_count})
                await sio.disconnect(sid)
            return None
        return pod.by_sid.get(sid)

    @sio.on(Event.SCENE_DONE)
    async def scene_done(sid: str, data: Any = None, *_: Any) -> dict[str, Any]:
        session = await session_for(sid)
        if session is None:
            return {"ok": False, "errors": {"_": "Too many requests; slow down."}}
        return await session.finish_scene(data)

    @sio.on(Event.INPUT)
    async def on_input(sid: str, data: Any = None, *_: Any) -> None:
        session = await session_for(sid)
        if session is None or session.game is None or session.agent is None or not isinstance(data, dict):
            return
        get = data.get
        session.game.on_input(session.agent, get("k"), get("d"), get("s"), get("t"), get("f"), get("e"), get("ft"))

    @sio.on(Event.RECORDS)
    async def records(sid: str, data: Any = None, *_: Any) -> dict[str, Any]:
        session = await session_for(sid)
        if session is None or not isinstance(data, dict):
            return {"ok": False, "n": 0, "error": "slow down"}
        game = session.game
        if not isinstance(game, RemoteGame) or data.get("g") != game.id or session.agent is None:
            late = isinstance(data.get("g"), str) and data["g"] in session.recent_games
            return {"ok": late, "n": 0, "error": None if late else "no such game"}
        try:
            taken = game.receive(session, session.agent, data.get("x"))
        except BadEntry as exc:
            game.rejected += 1
            if game.rejected <= MAX_UNKNOWN_RECORDED:
                log.info("refused records of game %s from %s: %s", game.id, sid, exc)
                pod.event(session, "bad_records", {"game": game.id, "why": str(exc)[:300]})
            return {"ok": False, "n": 0, "error": str(exc)[:300]}
        await pod.flush(game)
        return {"ok": True, "n": taken, "error": None}

    def peer_of(session: Any, data: Any) -> Any:
        """The group member a signal or relay is for (same p2p game), or None."""
        game = session.game if session is not None else None
        if not isinstance(game, RemoteGame) or game.scene.mode != "p2p" or not isinstance(data, dict):
            return None
        peer = game.members.get(str(data.get("to")))
        return peer if peer is not None and peer is not session and peer.sid is not None else None

    @sio.on(Event.SIGNAL)
    async def signal(sid: str, data: Any = None, *_: Any) -> None:
        session = await session_for(sid)
        peer = peer_of(session, data)
        if peer is not None and isinstance(data["d"], dict):
            await sio.emit(Event.SIGNAL, {"from": session.agent, "d": data["d"]}, to=peer.sid)

    @sio.on(Event.RELAY)
    async def relay(sid: str, data: Any = None, *_: Any) -> None:
        session = await session_for(sid)
        peer = peer_of(session, data)
        if peer is not None and isinstance(data["d"], str) and len(data["d"]) <= MAX_RELAY_CHARS:
            await sio.emit(Event.RELAY, {"from": session.agent, "d": data["d"]}, to=peer.sid)

    @sio.on(Event.PING)
    async def ping(sid: str, data: Any = None, *_: Any) -> dict[str, Any]:
        await session_for(sid)
        t = data.get("t") if isinstance(data, dict) else None
        return {"t": t if isinstance(t, int | float) else None, "s": time.time_ns() / 1e6}

    @sio.on(Event.TURN)
    async def turn(sid: str, data: Any = None, *_: Any) -> dict[str, Any]:
        session = await session_for(sid)
        if session is None:
            return {"urls": []}
        return await pod.turn.credentials(session.progress.participant)

    @sio.on(Event.TELEMETRY)
    async def telemetry(sid: str, data: Any = None, *_: Any) -> None:
        session = await session_for(sid)
        if session is None or not isinstance(data, dict):
            return
        kind, progress = data.get("kind"), session.progress
        if kind == "latency":
            rtt, offset = data.get("rtt"), data.get("offset")
            if isinstance(rtt, int | float) and isinstance(offset, int | float) and 0 <= rtt < 60_000:
                progress.add_latency(float(rtt), float(offset))
        elif kind == "visibility" and data.get("state") == "hidden":
            progress.visibility_losses += 1
            pod.event(session, "hidden", {"t_client": data.get("t")})
            session.check_attention()
        elif kind == "focus" and data.get("state") == "blur":
            progress.focus_losses += 1
            pod.event(session, "blur", {"t_client": data.get("t")})
            session.check_attention()
        elif kind == "frames":
            session.record_frames(data)
        elif kind == "error":
            pod.event(session, "client_error", {"message": str(data.get("message"))[:500]})


def build_app(settings: PodSettings) -> LogOversize:
    """The whole game pod: socket.io on `{base}socket.io`, HTTP routes beside it."""
    experiment = load_experiment_file(settings.experiment_file)[0]
    sio = socketio.AsyncServer(
        async_mode="asgi",
        serializer="msgpack",
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
        return JSONResponse({"ready": not pod.draining}, status_code=503 if pod.draining else 200)

    async def load(request: Request) -> Response:
        return JSONResponse(pod.load())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await pod.start()
        app.state.pod = pod
        yield
        await pod.close()

    base = settings.resolved_base_path
    prefix = "" if base == "/" else base

    async def to_base(request: Request) -> Response:
        return RedirectResponse(f"{prefix}/?{request.url.query}" if request.url.query else f"{prefix}/")

    routes = [
        Route(f"{prefix}/", index),
        Route(f"{prefix}/healthz", health),
        Route(f"{prefix}/readyz", ready),
        Route(f"{prefix}/load", load),
        *pages.routes(prefix, pod),
        *browser.routes(prefix, pod),
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
