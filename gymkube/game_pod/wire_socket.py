"""engine.io's ASGI websocket driver with the game pod's two short paths: frames written directly, inputs read directly.

engine.io serves a websocket through a small driver class (`engineio.async_drivers.asgi.WebSocket`:
accept, send, wait, close). `WireWebSocket` is that class with two additions:

- **frames out**: when uvicorn serves the connection (its websockets-sansio protocol, uvicorn's
  default), the driver keeps uvicorn's protocol object, and `FrameWire` (wire.py) may write a
  frame to its transport as one unmasked, uncompressed websocket binary message (RFC 6455; an
  uncompressed message is valid with permessage-deflate too, RFC 7692). Only when the socket is
  open, its handshake done, no close sent and no message of engine.io's writer in flight, so
  frames never overtake what was sent before them. When the socket has bytes the kernel did not
  take (the participant is not keeping up), frames to it are dropped instead (wire.py).
- **inputs in**: each message the page sends is looked at once: a socket.io `input` event on the
  default namespace without an ack id is decoded with one msgpack call and handed to its handler
  at once, in order with everything else from that connection; anything else (or anything unusual
  about it) goes to engine.io and python-socketio as before, which also means an unreadable or
  oversized message is treated exactly as before. Under uvicorn an input is applied as uvicorn
  reads it off the socket (`_received`), without going through the ASGI queue, when engine.io's
  reader is idle (everything the page sent before has been handled); otherwise it waits its turn
  in the queue.

With another ASGI server, or another websocket implementation in uvicorn, frames take engine.io's
queue (wire.py) and only the input path is shortened.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgpack
from engineio.async_drivers import asgi as eio_asgi

from gymkube.game_pod.protocol import Event

if TYPE_CHECKING:
    import socketio

    from gymkube.game_pod.wire import FrameWire

log = logging.getLogger(__name__)

BINARY_FINAL = 0x82
"""A websocket frame header's first byte: FIN, binary opcode, no RSV bits (no compression)."""


def websocket_message(data: bytes) -> bytes:
    """One unmasked binary websocket frame holding `data` (a server's frames are never masked)."""
    n = len(data)
    if n < 126:
        return bytes((BINARY_FINAL, n)) + data
    if n < 65536:
        return bytes((BINARY_FINAL, 126)) + n.to_bytes(2, "big") + data
    return bytes((BINARY_FINAL, 127)) + n.to_bytes(8, "big") + data


def _uvicorn_protocol(send: Any) -> Any:
    """uvicorn's websockets-sansio protocol behind an ASGI `send`, when that is what serves it; else None."""
    protocol = getattr(send, "__self__", None)
    if type(protocol).__name__ != "WebSocketsSansIOProtocol":
        return None
    needed = ("transport", "conn", "writable", "close_sent", "disconnected", "handshake_complete")
    return protocol if all(hasattr(protocol, name) for name in needed) else None


class WireWebSocket(eio_asgi.WebSocket):
    """engine.io's ASGI websocket, writable directly and reading `input` events on the short path."""

    def __init__(self, handler: Any, server: Any, wire: FrameWire) -> None:
        super().__init__(handler, server)
        self.wire = wire
        self.eio_socket = getattr(handler, "__self__", None)
        """The engine.io socket this websocket serves (engine.io passes its bound handler)."""
        self.protocol: Any = None
        self.writing = False
        """engine.io's writer is handing this connection a message (one it took from the queue)."""
        self.idle = False
        """engine.io's reader waits for this page's next message (everything before it is handled)."""

    async def __call__(self, environ: dict[str, Any]) -> Any:
        lane = None
        if self.eio_socket is not None:
            self.protocol = _uvicorn_protocol(environ.get("asgi.send"))
            if self.protocol is not None:
                lane = self.wire.lane(self.eio_socket)
                lane.direct = self
                if hasattr(self.protocol, "send_receive_event_to_app") and hasattr(self.protocol, "frames"):
                    self.protocol.send_receive_event_to_app = functools.partial(
                        self._received, self.protocol.send_receive_event_to_app
                    )
        try:
            return await super().__call__(environ)
        finally:
            if lane is not None and lane.direct is self:
                lane.direct = None

    def behind(self) -> bool:
        """Whether the participant is not keeping up: bytes wait in the transport that the kernel did not take.

        The kernel's send buffer already holds what the network has not carried yet; a frame added
        behind more would only arrive later, stale (and one put on engine.io's queue would wait too).
        """
        protocol = self.protocol
        return not protocol.writable.is_set() or protocol.transport.get_write_buffer_size() > 0

    def ready(self) -> bool:
        """Whether a frame may be written now (open, nothing of engine.io's writer in flight)."""
        protocol = self.protocol
        return (
            not self.writing
            and protocol.handshake_complete
            and not protocol.close_sent
            and not protocol.disconnected
            and not protocol.transport.is_closing()
        )

    def write(self, data: bytes) -> None:
        """Write one engine.io binary message (a socket.io packet) as a websocket message."""
        self.protocol.transport.write(websocket_message(data))

    async def send(self, message: Any) -> None:
        self.writing = True
        try:
            await super().send(message)
        finally:
            self.writing = False

    async def wait(self) -> Any:
        while True:
            self.idle = True
            try:
                data = await super().wait()
            finally:
                self.idle = False
            if type(data) is not bytes or not await self._took_input(data):
                return data

    def _input(self, data: Any) -> tuple[str, Any] | None:
        """(sid, payload) when `data` is a plain `input` event of a connected session; else None: engine.io's turn."""
        if self.eio_socket is None or len(data) > self.eio_socket.server.max_http_buffer_size:
            return None
        sid = self._connected_sid()  # looked up each time: a page may leave and rejoin on one connection
        if sid is None:
            return None
        try:
            message = msgpack.unpackb(data)
        except Exception:  # not msgpack: python-socketio's serializer makes it an unreadable event
            return None
        if not (
            type(message) is dict
            and message.get("type") == 2
            and message.get("nsp") == "/"
            and message.get("id") is None
            and type(args := message.get("data")) is list
            and args
            and args[0] == Event.INPUT
        ):
            return None
        self.wire.inputs += 1
        return sid, args[1] if len(args) > 1 else None

    def _apply(self, event: tuple[str, Any]) -> bool:
        """Hand an input to the pod's handler (events.py); True when its connection is to be disconnected (a flood)."""
        assert self.wire.input_now is not None
        try:
            return self.wire.input_now(*event)
        except Exception:  # as engine.io does with a handler's error: say so, keep the connection
            log.exception("the input handler failed for %s", event[0])
            return False

    async def _took_input(self, data: bytes) -> bool:
        """Handle `data` here if it is a plain `input` event of a connected session; False: engine.io's turn."""
        if self.wire.input_now is None or (event := self._input(data)) is None:
            return False
        if self._apply(event):
            await self.wire.sio.disconnect(event[0])
        return True

    def _received(self, original: Callable[[], None]) -> None:
        """uvicorn has a whole message: an `input` is applied here and now when nothing from this page is ahead of it.

        uvicorn would queue the message for the ASGI app, pause reading the socket until the app takes
        it, wake engine.io's reader task and resume reading: per input, most of what it cost to take.
        Only when engine.io's reader is waiting on an empty queue (everything this page sent before
        has been handled) is the input applied at once; otherwise it takes its place in the queue.
        """
        protocol = self.protocol
        frames = protocol.frames
        if (
            self.wire.input_now is not None
            and self.idle
            and len(frames) == 1
            and protocol.curr_msg_data_type == "bytes"
            and not protocol.close_sent
            and protocol.queue.empty()
            and (event := self._input(frames[0])) is not None
        ):
            protocol.frames = []
            self.wire.inputs_now += 1
            if self._apply(event):
                self.wire.later(self.wire.sio.disconnect(event[0]))
            return
        original()

    def _connected_sid(self) -> str | None:
        manager = self.wire.sio.manager
        sid = manager.sid_from_eio_sid(self.eio_socket.sid, "/") if self.eio_socket is not None else None
        return sid if sid is not None and manager.is_connected(sid, "/") else None


def install(sio: socketio.AsyncServer, wire: FrameWire) -> bool:
    """Serve `sio`'s websockets with `WireWebSocket`; False when its engine.io driver is not the ASGI one."""
    drivers = getattr(sio.eio, "_async", None)
    if not isinstance(drivers, dict) or drivers.get("websocket") is not eio_asgi.WebSocket:
        return False
    sio.eio._async = drivers | {"websocket": functools.partial(WireWebSocket, wire=wire)}
    return True
