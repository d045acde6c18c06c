"""The frame wire's encodings (wire.py, wire_socket.py): the bytes python-socketio, engine.io and websockets send."""

from __future__ import annotations

from typing import Any

import pytest
from engineio import packet as eio_packet
from socketio.msgpack_packet import MsgPackPacket
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from gymkube.game_pod.protocol import Event
from gymkube.game_pod.wire import FramePacket, Lane, StatePacket, state_packet
from gymkube.game_pod.wire_socket import websocket_message


def python_socketio_bytes(event: str, payload: Any) -> bytes:
    """What python-socketio's msgpack serializer sends for `emit(event, payload)`."""
    return bytes(MsgPackPacket(2, data=[event, payload], namespace="/").encode())


PAYLOADS: list[dict[str, Any]] = [
    {"g": "g1", "e": 1, "f": 0, "hud": "Round 1/3   Score 0", "t": 1767225600123, "o": [], "p": None, "a": None},
    {
        "g": "game-\u00e9\u4e2d", "e": 12, "f": 499, "hud": "x" * 300, "t": 2**53,
        "o": [{"id": "pole", "kind": "line", "points": [[0.5, 0.25], [0.51, -1e-9]], "color": "#ccaa66", "w": 0.01}],
        "p": [{"id": "track", "permanent": True, "x": -0.0, "y": float("inf")}],
        "a": 3,
    },
    {"g": "g3", "e": 2, "f": 7, "hud": "", "t": 5, "img": bytes(range(256)) * 300, "fmt": "image/jpeg", "a": None},
]  # fmt: skip


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("ack", [-1, 0, 1, 127, 128, 65535, 2**40])
def test_a_state_packet_is_byte_for_byte_what_python_socketio_encodes(payload: dict[str, Any], ack: int):
    personal = payload | {"a": ack if ack >= 0 else None}
    assert StatePacket(payload).for_member(ack) == python_socketio_bytes(Event.STATE, personal)
    assert state_packet(personal) == python_socketio_bytes(Event.STATE, personal)


def test_a_state_payload_whose_ack_is_not_last_is_refused():
    with pytest.raises(ValueError, match="last entry"):
        StatePacket({"a": None, "g": "g1"})


def test_a_queued_frame_is_the_engine_io_message_python_engineio_writes():
    """Over a websocket the frame is sent as is; over long-polling base64 with `b`, as any binary message."""
    data = StatePacket(PAYLOADS[1]).for_member(9)
    lane = Lane()
    lane.waiting = 2
    ours = FramePacket(data, lane)
    theirs = eio_packet.Packet(eio_packet.MESSAGE, data)
    assert ours.encode() == theirs.encode() == data
    assert lane.waiting == 1, "leaving the queue takes the frame off its lane's count, once"
    assert FramePacket(data, lane).encode(b64=True) == eio_packet.Packet(eio_packet.MESSAGE, data).encode(b64=True)
    assert lane.waiting == 0


@pytest.mark.parametrize("size", [0, 1, 125, 126, 127, 65535, 65536, 300_000])
def test_a_directly_written_frame_is_the_websocket_message_websockets_sends_and_parses(size: int):
    data = bytes(i % 251 for i in range(size))
    ours = websocket_message(data)
    assert ours == Frame(Opcode.BINARY, data).serialize(mask=False, extensions=[]), "what websockets writes"
    reader = StreamReader()
    reader.feed_data(ours)
    with pytest.raises(StopIteration) as parsed:  # all bytes are there: the parser finishes at once
        next(Frame.parse(reader.read_exact, mask=False, extensions=[]))
    frame = parsed.value.value
    assert frame.opcode == Opcode.BINARY and frame.fin and not frame.rsv1 and frame.data == data
