"""The socket.io events of the protocol table, wired to the pod: each payload checked and budgeted first.

A handler runs only for a connected participant within their connection's rate limit, and reads
only a payload that passed its model in `payloads.py`; what does not (unknown events, malformed
payloads, messages over a participant's budget in `limits.py`) is dropped, counted in the
participant's `ignored_events` and recorded once per kind. Nothing a page sends raises here.
"""

from __future__ import annotations

import logging
import time
from typing import Any, TypeVar

import socketio
from pydantic import BaseModel, TypeAdapter, ValidationError
from socketio import packet
from socketio.msgpack_packet import MsgPackPacket

from gymkube.game_pod.groups import Lobby
from gymkube.game_pod.limits import MAX_ATTENTION_ROWS, MAX_ERROR_ROWS, RateLimiter, TokenBucket, count_ignored
from gymkube.game_pod.monitoring import watch_connection
from gymkube.game_pod.payloads import (
    TELEMETRY,
    ErrorReport,
    FocusReport,
    FramesReport,
    InputPayload,
    LatencyReport,
    PingPayload,
    ProbeResultPayload,
    ProbeSignalPayload,
    RecordsPayload,
    RelayPayload,
    SceneDonePayload,
    SignalPayload,
    UnityPayload,
    VisibilityReport,
    client_info,
    plain_json,
)
from gymkube.game_pod.pod import Pod
from gymkube.game_pod.probes import Report
from gymkube.game_pod.protocol import Event
from gymkube.game_pod.remote import BadEntry, RemoteGame
from gymkube.game_pod.session import ParticipantSession
from gymkube.tokens import TokenError, TokenExpired, verify_token

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
P = TypeVar("P", SignalPayload, RelayPayload)
MAX_BAD_RECORDS_RECORDED = 10
"""`bad_records` events per browser game (each refusal is answered; only the first few are recorded)."""
MAX_SIGNAL_CHARS = 32_000
"""Text in one WebRTC description or candidate (an offer with many candidates is a few kB; what does not fit is cut)."""


UNREADABLE = "(unreadable packet)"
"""The event an unreadable packet becomes: counted and rate-limited as an unknown event."""


class CheckedPacket(MsgPackPacket):
    """socket.io's msgpack packets, each checked for its shape as it is decoded.

    A packet that is not msgpack, not a map, of a type a browser does not send (binary events:
    the msgpack parser never uses them), or an event without a text name would raise inside
    python-socketio and log a traceback per packet; it becomes the unknown event `UNREADABLE`
    instead, which the handlers count against the sender's budget like any other.
    """

    packet_type: int
    namespace: Any
    id: Any
    data: Any

    def __init__(self, *args: Any, encoded_packet: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, encoded_packet=encoded_packet, **kwargs)
        if encoded_packet is not None and not encoded_packet:  # an empty message is not decoded by the base class
            self.decode(encoded_packet)

    def decode(self, encoded_packet: Any) -> None:
        try:
            super().decode(encoded_packet)
            readable = (
                self.packet_type in (packet.CONNECT, packet.DISCONNECT, packet.EVENT, packet.ACK)
                and (self.namespace is None or isinstance(self.namespace, str))
                and (self.id is None or (isinstance(self.id, int) and not isinstance(self.id, bool)))
                and (
                    self.packet_type != packet.EVENT
                    or (isinstance(self.data, list) and bool(self.data) and isinstance(self.data[0], str))
                )
            )
        except Exception:  # not msgpack, not a map, a key missing: whatever it is, it is not a packet
            readable = False
        if not readable:
            self.packet_type, self.namespace, self.id, self.data = packet.EVENT, "/", None, [UNREADABLE]


def _printable(name: Any) -> str:
    text = name if isinstance(name, str) else type(name).__name__
    return "".join(c for c in text[:64] if c.isprintable()) or "?"


def _why(exc: ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(map(str, first["loc"]))[:60]
    return f"{where}: {first['type']}" if where else first["type"]


def register_events(sio: socketio.AsyncServer, pod: Pod) -> None:
    """Wire the socket.io events of the protocol table to the pod."""
    connections: dict[str, RateLimiter] = {}

    async def refuse(sid: str, reason: str, message: str) -> bool:
        pod.metrics.connection_refused(reason)
        await sio.emit(Event.REFUSED, {"reason": reason, "message": message}, to=sid)
        return False

    def ignore(session: ParticipantSession, kind: str, detail: dict[str, Any]) -> None:
        """Count a message the pod does not take; record it the first time of its kind."""
        pod.metrics.refused(kind)
        if count_ignored(session.progress.ignored, kind):
            pod.event(session, "ignored", {"kind": kind, **detail})

    def parse(session: ParticipantSession, event: str, model: type[M] | TypeAdapter[M], data: Any) -> M | None:
        """The payload as its model, or None (counted as malformed) when it does not fit."""
        try:
            return model.validate_python(data) if isinstance(model, TypeAdapter) else model.model_validate(data)
        except ValidationError as exc:
            ignore(session, f"malformed:{event}", {"event": event, "why": _why(exc)})
            return None

    def session_now(sid: str) -> tuple[ParticipantSession | None, bool]:
        """The participant behind a connection (None when over its rate), and whether it floods (to be disconnected)."""
        limiter = connections.get(sid)
        if limiter is None:
            return None, False
        if not limiter.allow():
            pod.metrics.refused("flood" if limiter.flooding else "rate_limited")
            if not limiter.flooding:
                return None, False
            log.warning("disconnecting %s: %d events in one second", sid, limiter.window_count)
            session = pod.by_sid.get(sid)
            if session is not None:
                pod.event(session, "flood_disconnect", {"events": limiter.window_count})
            return None, True
        return pod.by_sid.get(sid), False

    async def session_for(sid: str) -> ParticipantSession | None:
        """The participant behind a connection, or None when it is over its rate (a flood is disconnected)."""
        session, flooding = session_now(sid)
        if flooding:
            await sio.disconnect(sid)
        return session

    async def unknown(sid: str, name: Any) -> None:
        """An event the protocol does not have: counted against the rate limit and the participant's budget."""
        session = await session_for(sid)
        if session is not None:
            pod.metrics.refused("unknown_event")
            what = _printable(name)
            if count_ignored(session.progress.ignored, f"unknown:{what}"):
                log.info("ignored an unknown event %r from %s", what, sid)
                pod.event(session, "unknown_event", {"event": what})

    @sio.on("*")
    async def any_other(event: Any, sid: str, *_: Any) -> None:
        await unknown(sid, event)

    @sio.event
    async def connect(sid: str, environ: Any = None, auth: Any = None, *_: Any) -> bool | None:
        if sid in connections:  # an event named "connect" from a page that is already connected
            await unknown(sid, "connect")
            return None
        auth = auth if isinstance(auth, dict) else {}
        try:
            claims = verify_token(
                pod.token_key, auth.get("token"), pod.experiment.name, pod.spec.recruitment.token_lifetime_s
            )
        except TokenExpired as exc:
            log.info("refused a connection: %s", exc)
            message = "This link has expired. Please open the study link you were given again."
            return await refuse(sid, "expired", message)
        except TokenError as exc:
            log.info("refused a connection: %s", exc)
            return await refuse(sid, "token", "This link is not valid. Please use the link you were given.")
        session = await pod.admit(claims)
        if session is None:
            return await refuse(sid, "busy", "This study is busy right now. Please try again in a minute.")
        if not session.budget.connects.take():
            ignore(session, "over_budget:connect", {"event": "connect"})
            return await refuse(sid, "slow_down", "Too many reconnections. Please wait a minute, then reload the page.")
        if session.sid is not None:
            pod.event(session, "duplicate_refused", {"sid": sid})
            return await refuse(
                sid,
                "duplicate",
                "This study is already open in another tab or window. Please use that one.",
            )
        connections[sid] = RateLimiter()
        pod.by_sid[sid] = session
        await session.attach(sid, client_info(auth.get("client")))
        return True

    @sio.event
    async def disconnect(sid: str, reason: Any = None, *_: Any) -> None:
        if sio.manager.is_connected(sid, "/"):  # an event named "disconnect" from a connected page
            await unknown(sid, "disconnect")
            return
        connections.pop(sid, None)
        session = pod.by_sid.pop(sid, None)
        if session is not None and session.sid == sid:
            session.detach()

    @sio.on(Event.SCENE_DONE)
    async def scene_done(sid: str, data: Any = None, *_: Any) -> dict[str, Any]:
        session = await session_for(sid)
        if session is None:
            return {"ok": False, "errors": {"_": "Too many requests; slow down."}}
        done = parse(session, Event.SCENE_DONE, SceneDonePayload, data)
        if done is None:  # not a {scene, answers} the pod can take (too many answers, wrong types)
            return {"ok": False, "errors": {"_": "The page's answers could not be read; please try again."}}
        return await session.finish_scene(done.scene, done.answers)

    def input_now(sid: str, data: Any) -> bool:
        """Apply one `input` event (it never waits); True when the connection is flooding and must be disconnected."""
        session, flooding = session_now(sid)
        if session is None:
            return flooding
        key = parse(session, Event.INPUT, InputPayload, data)
        if key is not None and session.game is not None and session.agent is not None:
            session.game.on_input(session.agent, key.k, key.d, key.s, key.t, key.f, key.e, key.ft)
        return False

    @sio.on(Event.INPUT)
    async def on_input(sid: str, data: Any = None, *_: Any) -> None:
        if input_now(sid, data):
            await sio.disconnect(sid)

    if pod.wire is not None:  # the same handling, reached without python-socketio's dispatch (wire_socket.py)
        pod.wire.input_now = input_now

    @sio.on(Event.RECORDS)
    async def records(sid: str, data: Any = None, *_: Any) -> dict[str, Any]:
        session = await session_for(sid)
        if session is None:
            return {"ok": False, "n": 0, "error": "slow down"}
        batch = parse(session, Event.RECORDS, RecordsPayload, data)
        if batch is None:
            return {"ok": False, "n": 0, "error": "records must be {g: game id, x: [entries]}"}
        game = session.game
        if not isinstance(game, RemoteGame) or batch.g != game.id or session.agent is None:
            late = batch.g in session.recent_games
            return {"ok": late, "n": 0, "error": None if late else "no such game"}
        try:
            taken = game.receive(session, session.agent, batch.x)
        except BadEntry as exc:
            game.rejected += 1
            if game.rejected <= MAX_BAD_RECORDS_RECORDED:
                log.info("refused records of game %s from %s: %s", game.id, sid, exc)
                pod.event(session, "bad_records", {"game": game.id, "why": str(exc)[:300]})
            return {"ok": False, "n": 0, "error": str(exc)[:300]}
        await pod.flush(game)
        return {"ok": True, "n": taken, "error": None}

    @sio.on(Event.UNITY)
    async def unity(sid: str, data: Any = None, *_: Any) -> dict[str, Any]:
        session = await session_for(sid)
        if session is None:
            return {"ok": False, "n": 0, "error": "slow down"}
        batch = parse(session, Event.UNITY, UnityPayload, data)
        if batch is None:
            return {"ok": False, "n": 0, "error": "unity reports must be {s: scene, x: [entries]}"}
        run = session.unity
        if run is None or batch.s != run.key:
            return {"ok": False, "n": 0, "error": "no such unity scene"}
        if not session.budget.unity_rows.take(len(batch.x)):
            ignore(session, "over_budget:unity", {"event": Event.UNITY})
            return {"ok": False, "n": 0, "error": "too many reports; send fewer"}
        taken, why = run.receive(batch.x)
        if why is not None and count_ignored(session.progress.ignored, "refused:unity"):
            pod.event(session, "unity_refused", {"scene": run.key, "why": why[:300]})
        return {"ok": why is None, "n": taken, "error": why}

    def within_budget(session: ParticipantSession, bucket: TokenBucket, event: str, amount: float = 1.0) -> bool:
        """Take from one of the participant's budgets; a message over it is ignored as `over_budget:<event>`."""
        if bucket.take(amount):
            return True
        ignore(session, f"over_budget:{event}", {"event": event})
        return False

    async def for_peer(
        sid: str, event: str, model: type[P], data: Any
    ) -> tuple[ParticipantSession, P, ParticipantSession] | None:
        """The sender, their signal or relay packet and the group member it is for (same p2p game), or None."""
        session = await session_for(sid)
        message = parse(session, event, model, data) if session is not None else None
        if session is None or message is None:
            return None
        game = session.game
        if not isinstance(game, RemoteGame) or game.scene.mode != "p2p":
            return None
        peer = game.members.get(message.to)
        return (session, message, peer) if peer is not None and peer is not session and peer.sid is not None else None

    async def for_lobby(sid: str, event: str, model: type[M], data: Any) -> tuple[ParticipantSession, M, Lobby] | None:
        """The sender, their probe message (within the probe budget) and the lobby they wait in, or None."""
        session = await session_for(sid)
        message = parse(session, event, model, data) if session is not None else None
        if session is None or message is None or not within_budget(session, session.budget.probes, event):
            return None
        lobby = pod.lobbies.get(session.progress.current)
        return None if lobby is None else (session, message, lobby)

    @sio.on(Event.SIGNAL)
    async def signal(sid: str, data: Any = None, *_: Any) -> None:
        sent = await for_peer(sid, Event.SIGNAL, SignalPayload, data)
        if sent is None:
            return
        session, message, peer = sent
        if within_budget(session, session.budget.signals, Event.SIGNAL):
            description = plain_json(message.d, depth=3, items=32, chars=MAX_SIGNAL_CHARS)
            await sio.emit(Event.SIGNAL, {"from": session.agent, "d": description}, to=peer.sid)

    @sio.on(Event.RELAY)
    async def relay(sid: str, data: Any = None, *_: Any) -> None:
        sent = await for_peer(sid, Event.RELAY, RelayPayload, data)
        if sent is None:
            return
        session, packet, peer = sent
        if within_budget(session, session.budget.relay_chars, Event.RELAY, len(packet.d)):
            await sio.emit(Event.RELAY, {"from": session.agent, "d": packet.d}, to=peer.sid)

    @sio.on(Event.PROBE_SIGNAL)
    async def probe_signal(sid: str, data: Any = None, *_: Any) -> None:
        probe = await for_lobby(sid, Event.PROBE_SIGNAL, ProbeSignalPayload, data)
        if probe is not None:
            session, message, lobby = probe
            description = plain_json(message.d, depth=3, items=32, chars=MAX_SIGNAL_CHARS)
            await lobby.probe_signal(session, message.id, description)

    @sio.on(Event.PROBE_RESULT)
    async def probe_result(sid: str, data: Any = None, *_: Any) -> None:
        probe = await for_lobby(sid, Event.PROBE_RESULT, ProbeResultPayload, data)
        if probe is not None:
            session, result, lobby = probe
            lobby.probe_result(session, result.id, Report(result.rtt, result.n, result.via))

    @sio.on(Event.PING)
    async def ping(sid: str, data: Any = None, *_: Any) -> dict[str, Any]:
        session = await session_for(sid)
        probe = parse(session, Event.PING, PingPayload, data) if session is not None else None
        return {"t": probe.t if probe is not None else None, "s": time.time_ns() / 1e6}

    @sio.on(Event.TURN)
    async def turn(sid: str, data: Any = None, *_: Any) -> dict[str, Any]:
        session = await session_for(sid)
        if session is None:
            return {"urls": []}
        return await pod.turn.credentials(session.progress.participant)

    @sio.on(Event.TELEMETRY)
    async def telemetry(sid: str, data: Any = None, *_: Any) -> None:
        session = await session_for(sid)
        report = parse(session, Event.TELEMETRY, TELEMETRY, data) if session is not None else None
        if session is None or report is None:
            return
        progress = session.progress
        if isinstance(report, LatencyReport):
            progress.add_latency(report.rtt, report.offset)
            watch_connection(session, report.rtt)
            if pod.exclusion is not None:
                pod.exclusion.on_latency(session)
        elif isinstance(report, VisibilityReport) and report.state == "visible":
            session.page_visible = True
        elif isinstance(report, FocusReport) and report.state == "focus":
            session.window_focused = True
        elif isinstance(report, VisibilityReport | FocusReport) and report.state in ("hidden", "blur"):
            hidden = report.state == "hidden"
            if hidden:
                progress.visibility_losses += 1
                session.page_visible = False
            else:
                progress.focus_losses += 1
                session.window_focused = False
            if (progress.visibility_losses if hidden else progress.focus_losses) <= MAX_ATTENTION_ROWS:
                pod.event(session, report.state, {"t_client": report.t})
            session.check_attention()
        elif isinstance(report, ErrorReport):
            progress.client_errors += 1
            if progress.client_errors <= MAX_ERROR_ROWS:
                pod.event(session, "client_error", {"message": report.message[:500]})
        elif isinstance(report, FramesReport):
            budget = session.budget
            if not budget.frame_reports.take() or not budget.frame_rows.take(len(report.f)):
                ignore(session, "over_budget:frames", {"event": Event.TELEMETRY})
                return
            session.record_frames(report.g, report.e, report.f, report.ms)
            pod.metrics.frames_drawn(report.ms)
