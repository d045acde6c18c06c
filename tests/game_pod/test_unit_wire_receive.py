"""Inputs applied as uvicorn reads them (wire_socket.py `_received`), and when they must wait their turn instead."""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack
import pytest

from gymkube.game_pod.protocol import Event
from gymkube.game_pod.wire_socket import WireWebSocket


def packet(event: str, payload: Any, ack_id: int | None = None) -> bytes:
    """A socket.io event as the page's msgpack parser sends it."""
    message: dict[str, Any] = {"type": 2, "data": [event, payload], "nsp": "/"}
    if ack_id is not None:
        message["id"] = ack_id
    return msgpack.packb(message)


INPUT = packet(Event.INPUT, {"s": 1, "k": "ArrowLeft", "d": True, "t": 1.7e12})


class Protocol:
    """uvicorn's websockets-sansio protocol as `_received` sees it: the message read, and the ASGI queue."""

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.curr_msg_data_type = "bytes"
        self.close_sent = False
        self.queue: asyncio.Queue[bytes] = asyncio.Queue()

    def send_receive_event_to_app(self) -> None:  # uvicorn's own: queue the message for the app
        self.queue.put_nowait(self.frames[0])
        self.frames = []


class Sio:
    def __init__(self) -> None:
        self.disconnected: list[str] = []

    async def disconnect(self, sid: str) -> None:
        self.disconnected.append(sid)


class Wire:
    def __init__(self, flood: bool = False) -> None:
        self.applied: list[tuple[str, Any]] = []
        self.inputs = self.inputs_now = 0
        self.sio = Sio()
        self.flood = flood
        self.tasks: list[asyncio.Task[Any]] = []

    def input_now(self, sid: str, data: Any) -> bool:
        self.applied.append((sid, data))
        return self.flood

    def later(self, work: Any) -> None:
        self.tasks.append(asyncio.get_running_loop().create_task(work))


class EioServer:
    max_http_buffer_size = 1_000_000


class EioSocket:
    server = EioServer()


def websocket(wire: Wire, protocol: Protocol, idle: bool = True) -> WireWebSocket:
    ws = WireWebSocket.__new__(WireWebSocket)  # only what `_received` reads: the rest is engine.io's
    ws.wire, ws.protocol, ws.eio_socket, ws.idle = wire, protocol, EioSocket(), idle  # type: ignore[assignment]
    ws._connected_sid = lambda: "sid-1"  # type: ignore[method-assign]
    return ws


def arrive(ws: WireWebSocket, protocol: Protocol, data: bytes) -> None:
    protocol.frames = [data]
    ws._received(protocol.send_receive_event_to_app)


async def test_an_input_with_nothing_ahead_of_it_is_applied_as_it_is_read_and_never_queued():
    wire, protocol = Wire(), Protocol()
    ws = websocket(wire, protocol)
    arrive(ws, protocol, INPUT)
    assert wire.applied == [("sid-1", {"s": 1, "k": "ArrowLeft", "d": True, "t": 1.7e12})]
    assert protocol.queue.empty() and protocol.frames == []
    assert wire.inputs_now == 1


async def test_an_input_behind_an_unhandled_message_waits_its_turn_in_the_queue():
    wire, protocol = Wire(), Protocol()
    ws = websocket(wire, protocol)
    scene_done = packet(Event.SCENE_DONE, {"scene": "consent"}, ack_id=4)
    arrive(ws, protocol, scene_done)  # engine.io's reader has not taken it yet
    arrive(ws, protocol, INPUT)
    assert wire.applied == [], "applied now, it would overtake the scene_done the page sent first"
    assert [protocol.queue.get_nowait() for _ in range(2)] == [scene_done, INPUT]


async def test_an_input_while_the_reader_handles_an_earlier_message_is_queued():
    wire, protocol = Wire(), Protocol()
    ws = websocket(wire, protocol, idle=False)
    arrive(ws, protocol, INPUT)
    assert wire.applied == [] and protocol.queue.get_nowait() == INPUT


@pytest.mark.parametrize(
    "data",
    [
        packet(Event.INPUT, {"s": 1}, ack_id=3),  # asks for an ack: python-socketio answers it
        packet(Event.SCENE_DONE, {"scene": "x"}),
        msgpack.packb({"type": 2, "data": [Event.INPUT, {}], "nsp": "/admin"}),
        b"\xc1 not msgpack",
        msgpack.packb([1, 2, 3]),
    ],
    ids=["with ack id", "other event", "other namespace", "unreadable", "not a packet"],
)
async def test_anything_but_a_plain_input_goes_to_engine_io_as_before(data: bytes):
    wire, protocol = Wire(), Protocol()
    ws = websocket(wire, protocol)
    arrive(ws, protocol, data)
    assert wire.applied == [] and protocol.queue.get_nowait() == data


async def test_a_text_message_goes_to_engine_io_as_before():
    wire, protocol = Wire(), Protocol()
    ws = websocket(wire, protocol)
    protocol.curr_msg_data_type = "text"
    arrive(ws, protocol, b"2")
    assert wire.applied == [] and protocol.queue.get_nowait() == b"2"


async def test_a_flooding_connection_is_disconnected_from_the_immediate_path():
    wire, protocol = Wire(flood=True), Protocol()
    ws = websocket(wire, protocol)
    arrive(ws, protocol, INPUT)
    await asyncio.gather(*wire.tasks)
    assert wire.sio.disconnected == ["sid-1"]
