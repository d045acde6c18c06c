"""The hot path past python-socketio's per-message work: `state` frames out (here), `input` events in (wire_socket.py).

python-socketio's `emit` builds a packet, encodes it, creates one task per recipient and awaits
them; engine.io then wakes the connection's writer task, which checks the ping timeout, formats
log records and hands the bytes to the ASGI server one message at a time. Per participant and
frame that was most of a game pod's CPU. Here a `state` frame is encoded once per game and tick
(msgpack, byte for byte what python-socketio's msgpack serializer sends, so the page, the bots and
python-socketio clients read it unchanged), each member's copy differs only in their ack, and it
goes out by the cheapest way that keeps the connection's order:

- **written now**: the participant is on a websocket served by uvicorn (`wire_socket.py`), nothing
  of python-socketio's is waiting on that connection and its socket keeps up: the frame is framed
  as a websocket message and written to the transport in the tick that made it;
- **queued**: otherwise (long-polling, an upgrade in progress, a message of python-socketio's
  waiting ahead, a socket that is behind, another ASGI server) it joins the connection's engine.io
  queue, the queue python-socketio's own emits go through, so it leaves after everything sent
  before it, framed by engine.io's writer as any message (base64 over long-polling).

Back-pressure: a frame to a websocket whose transport holds bytes the kernel did not take (a
paused tab, a slow link: the kernel's send buffer is full) is dropped, so the pod holds at most
the rest of one message for it and frames that do arrive are fresh. On engine.io's queue at most
`MAX_WAITING_FRAMES` frames of one connection wait; later ones are dropped until its writer
catches up. Every drop is counted (the pod records them). Beyond that, a slow participant holds
only python-socketio's own (rare) messages.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import msgpack
from engineio import packet as eio_packet

from gymkube.game_pod.protocol import Event
from gymkube.game_pod.wire_socket import install

if TYPE_CHECKING:
    import socketio

    from gymkube.game_pod.wire_socket import WireWebSocket

MAX_WAITING_FRAMES = 8
"""Frames one participant may have queued (about a quarter of a second at 30 fps)."""

EVENT = 2
"""socket.io's EVENT packet type."""
_PACKET_TAIL = msgpack.packb("nsp") + msgpack.packb("/")
"""A packet's last key and value: python-socketio's msgpack packet is `{type, data, nsp}` in that order."""
_NIL = b"\xc0"


def state_packet(payload: dict[str, Any]) -> bytes:
    """The socket.io packet of a `state` event, as python-socketio's msgpack serializer encodes it."""
    return msgpack.packb({"type": EVENT, "data": [Event.STATE, payload], "nsp": "/"})


class StatePacket:
    """A `state` payload encoded once; each member's copy differs only in its last entry, their ack `a`."""

    __slots__ = ("head",)

    def __init__(self, payload: dict[str, Any]) -> None:
        if next(reversed(payload)) != "a":
            raise ValueError("the ack `a` must be the state payload's last entry")
        whole = state_packet(payload if payload["a"] is None else payload | {"a": None})
        self.head = whole[: -len(_PACKET_TAIL) - 1]

    def for_member(self, ack: int) -> bytes:
        """The packet with this member's ack (nil before their first input)."""
        return self.head + (msgpack.packb(ack) if ack >= 0 else _NIL) + _PACKET_TAIL


class Lane:
    """One engine.io connection as the frame path sees it: its frames queued, and its direct writer if any."""

    __slots__ = ("waiting", "dropped", "direct", "__weakref__")

    def __init__(self) -> None:
        self.waiting = 0
        """Frames in the connection's engine.io queue, not yet taken by its writer."""
        self.dropped = 0
        self.direct: WireWebSocket | None = None
        """Set while the connection is a websocket that frames can be written to directly (wire_socket.py)."""


class FramePacket(eio_packet.Packet):
    """An engine.io message holding one frame; it leaves its lane's count when the writer encodes it."""

    def __init__(self, data: bytes, lane: Lane) -> None:
        super().__init__(eio_packet.MESSAGE, data)
        self.lane: Lane | None = lane

    def encode(self, b64: bool = False) -> Any:
        if self.lane is not None:
            self.lane.waiting -= 1
            self.lane = None
        return super().encode(b64)


def _settled(queue: Any) -> bool:
    """Whether everything put on an engine.io queue has been handed on by its writer.

    `queue.empty()` is not enough: engine.io's writer takes a message off the queue in a task of its
    own and hands it to the websocket a loop turn later; a frame written in between would overtake
    it. The writer marks each message done (`task_done`) only after taking it, synchronously before
    handing it on, so the queue's count of unfinished messages is zero only when nothing is on its way.
    (Without that count, as in a Python whose `asyncio.Queue` lacks it, every frame is queued.)
    """
    return getattr(queue, "_unfinished_tasks", 1) == 0


SENT, DROPPED, GONE = 1, 0, -1
"""What became of one frame: written or queued; dropped (the connection is behind); no connection to send to."""


class FrameWire:
    """Sends encoded `state` packets to participants' connections, bounded per connection.

    Built on a python-socketio server, it also puts its websocket driver (wire_socket.py) in
    engine.io's place, through which frames are written directly and inputs read on the short path.
    """

    def __init__(self, sio: socketio.AsyncServer, max_waiting: int = MAX_WAITING_FRAMES) -> None:
        self.sio = sio
        self.max_waiting = max_waiting
        self.input_now: Callable[[str, Any], bool] | None = None
        """The `input` event's handling (events.py sets it) for inputs read on the short path: it never waits;
        True asks to disconnect the sender (a flood)."""
        self._later: set[asyncio.Task[Any]] = set()
        self._lanes: weakref.WeakKeyDictionary[Any, Lane] = weakref.WeakKeyDictionary()
        self.written = 0
        """Frames written directly to a websocket."""
        self.inputs = 0
        """`input` events read on the short path (wire_socket.py)."""
        self.inputs_now = 0
        """... of which applied as uvicorn read them (nothing from that page was waiting ahead)."""
        self.queued = 0
        """Frames put on an engine.io queue (long-polling, an upgrade in progress, a message waiting ahead)."""
        self.direct_available = install(sio, self)
        """Whether frames can be written directly (the ASGI driver is engine.io's own, which this replaces)."""

    def later(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run `work` as a task of its own (a disconnect asked for where nothing may wait)."""
        task = asyncio.get_running_loop().create_task(work)
        self._later.add(task)
        task.add_done_callback(self._later.discard)

    def lane(self, socket: Any) -> Lane:
        """The lane of one engine.io socket (made on first use, gone with the socket)."""
        lane = self._lanes.get(socket)
        if lane is None:
            lane = self._lanes[socket] = Lane()
        return lane

    def _socket(self, sid: str) -> Any:
        eio_sid = self.sio.manager.eio_sid_from_sid(sid, "/")
        socket = self.sio.eio.sockets.get(eio_sid) if eio_sid is not None else None
        if socket is None or socket.closing or socket.closed:
            return None
        return socket

    def send(self, sid: str, packet: bytes) -> int:
        """Send one frame to a participant's connection: SENT, DROPPED (too many queued) or GONE."""
        socket = self._socket(sid)
        if socket is None:
            return GONE
        lane = self.lane(socket)
        direct = lane.direct
        if direct is not None and socket.upgraded and not socket.upgrading:
            if direct.behind():
                lane.dropped += 1
                return DROPPED
            if _settled(socket.queue) and direct.ready():
                direct.write(packet)
                self.written += 1
                return SENT
        if lane.waiting >= self.max_waiting:
            lane.dropped += 1
            return DROPPED
        lane.waiting += 1
        self.queued += 1
        socket.queue.put_nowait(FramePacket(packet, lane))
        return SENT

    def waiting(self, sid: str) -> int:
        """Frames of this connection queued and not yet taken by its writer (0 for a connection unknown here)."""
        socket = self._socket(sid)
        lane = self._lanes.get(socket) if socket is not None else None
        return lane.waiting if lane is not None else 0
