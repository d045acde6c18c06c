"""Load generator: N simulated participants, each playing one CartPole game over python-socketio.

Every participant reacts to each frame it receives with a key press (a simple pole-balancing
controller reading the pole from the frame's objects, so episodes run to CartPole-v1's 500-step
limit instead of falling over every few seconds) and numbers its inputs. The systems say which
input a frame reflects: gymkube's `state.a`, and for the peers `a=<seq>` in the HUD text that the
harness adds (see benchmarks/peers/). Latency of input s = time from sending it until the first
frame whose acknowledged seq is >= s arrives. Only 127.0.0.1; bounded by the caller in
participants and time, and by the systems' frame rate in messages (one input per frame).
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import msgpack
import socketio

from gymkube.game_pod.protocol import Event

SIZE_SAMPLE_EVERY = 10
HUD_ACK = re.compile(r"a=(\d+)")


def pole_angle(objects: list[dict[str, Any]] | None) -> float | None:
    """The pole's lean (radians, positive to the right) from a frame's objects, if it has a pole."""
    for obj in objects or ():
        if obj.get("width") == 10 and (obj.get("kind") or obj.get("object_type")) == "line":
            (px, py), (tx, ty) = obj["points"][:2]
            return math.atan2((tx - px) * 600, (py - ty) * 400)
    return None


@dataclass
class Participant:
    """One simulated participant: what it sent, what it received, and when."""

    index: int
    frames: list[float] = field(default_factory=list)
    latencies: list[tuple[float, float]] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    messages: list[float] = field(default_factory=list)
    unacked: dict[int, float] = field(default_factory=dict)
    seq: int = 0
    key: str = "ArrowLeft"
    theta: float = 0.0
    started: asyncio.Event = field(default_factory=asyncio.Event)
    error: str | None = None

    def on_frame(self, ack: int | None, objects: list[dict[str, Any]] | None, encoded_size: Any) -> None:
        """Record a frame, settle the inputs it reflects, choose the next key."""
        now = time.perf_counter()
        self.frames.append(now)
        self.messages.append(now)
        self.started.set()
        if len(self.frames) % SIZE_SAMPLE_EVERY == 1:
            self.sizes.append(encoded_size())
        if ack is not None and self.unacked:
            for seq in [s for s in self.unacked if s <= ack]:
                sent = self.unacked.pop(seq)
                self.latencies.append((sent, now - sent))
        theta = pole_angle(objects)
        if theta is not None:
            self.key = "ArrowRight" if theta + 5 * (theta - self.theta) > 0 else "ArrowLeft"
            self.theta = theta

    def press(self) -> int:
        """Number a new key press and remember when it was sent."""
        self.seq += 1
        self.unacked[self.seq] = time.perf_counter()
        return self.seq


class Client:
    """Base: one socket.io connection playing one game."""

    serializer = "default"

    def __init__(self, base_url: str, participant: Participant) -> None:
        self.base_url = base_url
        self.p = participant
        self.sio = socketio.AsyncClient(serializer=self.serializer, reconnection=False)
        self.sio.on("*", self._any)

    async def _any(self, event: str, *args: Any) -> None:
        self.p.messages.append(time.perf_counter())

    def frame(self, ack: int | None, objects: Any, size: Any) -> None:
        self.p.on_frame(ack, objects, size)

    async def send(self, event: str, payload: dict[str, Any]) -> None:
        """Emit, unless the connection is already closing."""
        if self.sio.connected:
            try:
                await self.sio.emit(event, payload)
            except socketio.exceptions.SocketIOError:
                pass

    async def start(self, http: httpx.AsyncClient) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self.sio.disconnect(), 5)
        except Exception:
            pass


class GymkubeClient(Client):
    """A gymkube participant: token in the socket auth, `state` in, `input` out (msgpack)."""

    serializer = "msgpack"

    def __init__(self, base_url: str, participant: Participant, token: str) -> None:
        super().__init__(base_url, participant)
        self.token = token
        self.sio.on(Event.STATE, self._state)

    async def _state(self, state: dict[str, Any]) -> None:
        self.frame(state.get("a"), state.get("o"), lambda: len(msgpack.packb(["state", state])))
        seq = self.p.press()
        payload = {
            "s": seq,
            "k": self.p.key,
            "d": True,
            "t": time.time() * 1000,
            "f": state.get("f"),
            "e": state.get("e"),
        }
        await self.send(Event.INPUT, payload)

    async def start(self, http: httpx.AsyncClient) -> None:
        await self.sio.connect(
            self.base_url, transports=["websocket"], auth={"token": self.token, "client": {"ua": "bench"}}
        )


class PeerClient(Client):
    """What interactive-gym's and MUG's browser code does, in the order their index.js does it."""

    def __init__(self, base_url: str, participant: Participant) -> None:
        super().__init__(base_url, participant)
        self.subject = f"bench-{participant.index}-{time.monotonic_ns()}"
        self.game_id: str | None = None
        self.sio.on("activate_scene", self._scene)
        self.sio.on("start_game", self._start_game)
        self.sio.on("game_reset", self._reset)

    async def start(self, http: httpx.AsyncClient) -> None:
        await http.get(f"{self.base_url}/{self.subject}")  # builds the participant's stager
        await self.sio.connect(self.base_url, transports=["websocket"])
        await self.send("register_subject", {"subject_id": self.subject, "mugGlobals": {}})

    async def _scene(self, scene: dict[str, Any]) -> None:
        if scene.get("scene_id") == "start":
            await self.send("advance_scene", {})
        elif scene.get("scene_id") == "cartpole":
            await asyncio.sleep(0.2)  # a person reads the page and clicks; the server builds its game manager
            await self.send("join_game", {"session_id": None})

    async def _start_game(self, data: dict[str, Any]) -> None:
        self.game_id = data.get("game_id")

    async def _reset(self, data: dict[str, Any]) -> None:
        await self.send("reset_complete", {"room": data.get("room"), "session_id": None})

    @staticmethod
    def ack_of(hud: Any) -> int | None:
        match = HUD_ACK.search(hud or "")
        return int(match.group(1)) if match else None


class InteractiveGymClient(PeerClient):
    """interactive-gym: frames as `environment_state`; keys sent when the server asks for them."""

    def __init__(self, base_url: str, participant: Participant) -> None:
        super().__init__(base_url, participant)
        self.sio.on("environment_state", self._state)
        self.sio.on("request_pressed_keys", self._request_keys)

    async def _state(self, data: dict[str, Any]) -> None:
        self.frame(self.ack_of(data.get("hud_text")), data.get("game_state_objects"),
                   lambda: len(json.dumps(["environment_state", data], separators=(",", ":"))))  # fmt: skip
        self.p.press()  # the key changes now; the server learns it at its next request

    async def _request_keys(self, data: Any) -> None:
        self.p.messages.append(time.perf_counter())
        if self.p.seq:
            await self.send("send_pressed_keys", {"pressed_keys": [self.p.key], "seq": self.p.seq})


class MugClient(PeerClient):
    """MUG server-authoritative: frames as `server_render_state`; `player_action` on each key down."""

    def __init__(self, base_url: str, participant: Participant) -> None:
        super().__init__(base_url, participant)
        self.sio.on("server_render_state", self._state)

    async def _state(self, data: dict[str, Any]) -> None:
        render = data.get("render_state") or {}
        self.frame(self.ack_of(data.get("hud_text")), render.get("game_state_objects"),
                   lambda: len(json.dumps(["server_render_state", data], separators=(",", ":"))))  # fmt: skip
        seq = self.p.press()
        await self.send("player_action", {"key": self.p.key, "game_id": self.game_id, "seq": seq})
