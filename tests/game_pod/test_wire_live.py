"""The frame wire against a live pod and real socket.io clients: same bytes, same order, bounded for a slow client."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import msgpack
import pytest
import socketio
import uvicorn
import websockets
import yaml
from conftest import EXAMPLES, ROOT
from socketio.msgpack_packet import MsgPackPacket

from gymkube.game_pod.app import build_app
from gymkube.game_pod.pod import Pod
from gymkube.game_pod.protocol import Event
from gymkube.game_pod.settings import PodSettings
from gymkube.game_pod.wire import MAX_WAITING_FRAMES
from gymkube.keys import token_key
from gymkube.storage import LocalStorage
from gymkube.storage.export import read_tables
from gymkube.tokens import sign_token

SECRET = "wire-test-secret"


def python_socketio_bytes(event: str, payload: Any) -> bytes:
    """What python-socketio's msgpack serializer sends for `emit(event, payload)`."""
    return bytes(MsgPackPacket(2, data=[event, payload], namespace="/").encode())


def experiment(**gym: Any) -> dict[str, Any]:
    """examples/cartpole.yaml with only its game and end scenes, starting at once."""
    document = yaml.safe_load((EXAMPLES / "cartpole.yaml").read_text())
    spec = document["spec"]
    spec["scenes"] = [scene for scene in spec["scenes"] if scene["type"] in ("gym", "end")]
    spec["scenes"][0].update({"countdownS": 0, "episodes": 100, "maxSteps": 500} | gym)
    return dict(document)


def noisy_experiment() -> dict[str, Any]:
    """The tiny test environment sending large rgb frames (noise as JPEG, about 200 kB each), never ending."""
    scene = {
        "type": "gym", "id": "noisy", "fps": 30, "episodes": 1, "maxSteps": 100_000, "countdownS": 0,
        "environment": {"entryPoint": "tiny_env:make", "kwargs": {"length": 100_000, "noisy_frames": True}},
        "players": {"agent": {"type": "human"}},
        "controls": {"keys": {"ArrowLeft": 0, "ArrowRight": 2}, "defaultAction": 1},
        "rendering": {"mode": "rgb", "rgbFormat": "jpeg", "rgbQuality": 95},
    }  # fmt: skip
    return {
        "apiVersion": "gymkube.io/v1alpha1", "kind": "Experiment", "metadata": {"name": "cartpole"},
        "spec": {"scenes": [scene, {"type": "end"}]},
    }  # fmt: skip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def served_pod(tmp_path: Path, document: dict[str, Any], **settings_: Any) -> AsyncIterator[tuple[str, Pod]]:
    """A game pod app under uvicorn in this event loop (so the test can look at its queues), on a free port."""
    manifest = tmp_path / "experiment.json"
    manifest.write_text(json.dumps(document))
    settings = PodSettings(
        experiment_file=manifest, storage=str(tmp_path / "storage"), spool_dir=tmp_path / "spool", secret=SECRET,
        port=free_port(), **settings_,
    )  # fmt: skip
    app = build_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline and not task.done(), "the pod did not start"
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{settings.port}", app.pod
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 30)


def token(index: int) -> str:
    return sign_token(token_key(SECRET), {"x": "cartpole", "p": f"wire-{index}", "s": f"s{index}", "n": index, "q": {}})


class Player:
    """A python-socketio client keeping every message in order (`state` also raw), answering each frame with a key."""

    def __init__(self, base_url: str, index: int, transports: list[str] | None = None) -> None:
        self.base_url, self.index = base_url, index
        self.transports = transports or ["websocket"]
        self.raw: list[bytes] = []
        self.states: list[dict[str, Any]] = []
        self.messages: list[tuple[str, dict[str, Any]]] = []
        raw = self.raw

        class Recording(MsgPackPacket):
            def decode(self, encoded_packet: Any) -> None:
                super().decode(encoded_packet)
                if isinstance(self.data, list) and self.data[:1] == [Event.STATE]:
                    raw.append(bytes(encoded_packet))

        self.sio = socketio.AsyncClient(serializer=Recording, reconnection=False)
        self.seq = 0

        @self.sio.on(Event.GAME)
        async def on_game(game: dict[str, Any]) -> None:
            self.messages.append((Event.GAME, game))

        @self.sio.on(Event.STATE)
        async def on_state(state: dict[str, Any]) -> None:
            self.states.append(state)
            self.messages.append((Event.STATE, state))
            self.seq += 1
            key = {"s": self.seq, "k": "ArrowRight" if self.seq % 2 else "ArrowLeft", "d": True,
                   "t": time.time() * 1000, "f": state["f"], "e": state["e"], "ft": None}  # fmt: skip
            await self.sio.emit(Event.INPUT, key)

    async def connect(self) -> None:
        await self.sio.connect(self.base_url, transports=self.transports, auth={"token": token(self.index)})

    def steps_seen(self) -> dict[int, list[int]]:
        """The steps received, by episode."""
        seen: dict[int, list[int]] = {}
        for state in self.states:
            seen.setdefault(state["e"], []).append(state["f"])
        return seen


async def until(condition: Callable[[], bool | Awaitable[bool]], timeout_s: float, what: str) -> None:
    """Wait for a condition (the limit only keeps a broken run from hanging; nothing is asserted on time)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if await result if isinstance(result, Awaitable) else result:
            return
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def node_decode(packets: list[bytes]) -> list[Any]:
    """The packets as the page's own decoder (gymkube/static/js/msgpack_parser.js) reads them, under node."""
    parser = (ROOT / "gymkube" / "static" / "js" / "msgpack_parser.js").as_uri()
    script = f"""
import {{ Decoder }} from "{parser}";
const out = [];
for (const hex of JSON.parse(process.argv[1])) {{
  const decoder = new Decoder();
  decoder.on("decoded", (p) => out.push(p));
  decoder.add(new Uint8Array(Buffer.from(hex, "hex")));
}}
console.log(JSON.stringify(out));
"""
    result = subprocess.run(
        ["node", "--input-type=module", "-e", script, json.dumps([p.hex() for p in packets])],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return list(json.loads(result.stdout))


def assert_every_step_in_order(player: Player) -> None:
    for episode, steps in player.steps_seen().items():
        assert steps == list(range(steps[0], steps[0] + len(steps))), f"episode {episode}: a step lost or out of order"


@pytest.mark.parametrize("fast_frames", [True, False], ids=["frame wire", "python-socketio emit"])
async def test_frames_from_a_live_pod_are_what_python_socketio_would_send_and_both_decoders_read_them(
    tmp_path: Path, fast_frames: bool
):
    async with served_pod(tmp_path, experiment(), fast_frames=fast_frames) as (url, pod):
        player = Player(url, 0)
        await player.connect()
        try:
            await until(lambda: len(player.raw) >= 40, 30, "40 frames")
        finally:
            await player.sio.disconnect()
        session = pod.sessions["wire-0"]
        assert pod.metrics.frames_sent >= 40 and pod.metrics.frames_dropped == 0
        if fast_frames:
            assert pod.wire is not None and pod.wire.written + pod.wire.queued == pod.metrics.frames_sent
            assert pod.wire.written > 3 * pod.wire.queued, "frames to a websocket are written directly (most of them)"
            assert pod.wire.inputs >= 30, "inputs are read on the short path"
            assert pod.wire.inputs_now >= 20, "most are applied as the socket is read (nothing of the page's ahead)"
        else:
            assert pod.wire is None
    packets, states = player.raw[:40], player.states[:40]
    for raw, state in zip(packets, states, strict=True):
        assert raw == python_socketio_bytes(Event.STATE, state), "byte for byte what python-socketio encodes"
        assert list(state)[-1] == "a" and set(state) >= {"g", "e", "f", "hud", "t", "o", "p", "a"}
    assert_every_step_in_order(player)
    acks = [s["a"] for s in states if s["a"] is not None]
    assert acks and acks == sorted(acks), "inputs are acknowledged, in order"
    assert session.progress.frames_dropped == 0
    assert node_decode(packets) == [{"type": 2, "nsp": "/", "data": ["state", s]} for s in states]


@pytest.mark.parametrize("transports", [["polling"], ["polling", "websocket"]], ids=["long-polling", "upgrade"])
async def test_a_client_on_long_polling_or_upgrading_gets_every_frame_once_in_order(tmp_path: Path, transports):
    async with served_pod(tmp_path, experiment()) as (url, pod):
        player = Player(url, 0, transports)
        await player.connect()
        try:
            await until(lambda: len(player.raw) >= 60, 30, "60 frames")
            transport = player.sio.transport()
        finally:
            await player.sio.disconnect()
        assert pod.wire is not None and pod.metrics.frames_dropped == 0
        if transports == ["polling"]:
            assert pod.wire.queued > 0 and pod.wire.written == 0, "frames to long-polling take engine.io's queue"
        else:
            assert pod.wire.written > 0, "once upgraded, frames are written to the websocket directly"
    assert transport == transports[-1]
    for raw, state in zip(player.raw, player.states, strict=True):
        assert raw == python_socketio_bytes(Event.STATE, state)
    assert_every_step_in_order(player)
    acks = [s["a"] for s in player.states if s["a"] is not None]
    assert acks and acks == sorted(acks), "inputs over long-polling take python-socketio's path and are acknowledged"


async def test_game_messages_and_frames_arrive_in_the_order_the_pod_made_them(tmp_path: Path):
    """Episodes of 5 steps: each episode's `game` messages (python-socketio's emit) and frames (the wire) interleave."""
    async with served_pod(tmp_path, experiment(maxSteps=5, episodes=12)) as (url, pod):
        player = Player(url, 0)
        await player.connect()
        try:
            await until(lambda: sum(1 for s in player.states if s["f"] == 5) >= 8, 30, "8 episodes")
        finally:
            await player.sio.disconnect()
        assert pod.wire is not None and pod.wire.written > 0
    episode, playing = 0, False
    for event, payload in player.messages:
        if event == Event.GAME:
            playing = payload["status"] == "playing"
            if playing:
                assert episode == 0 or player.steps_seen()[episode][-1] == 5, "an episode's last frame came after"
                episode += 1
        else:
            assert playing, f"a frame outside a playing episode: {payload['e']}/{payload['f']}"
            assert payload["e"] == episode, "a frame of another episode than the last `playing` message announced"
    assert episode >= 8
    assert all(steps == list(range(6)) for steps in list(player.steps_seen().values())[:8])


class PausedClient:
    """A websocket that connects as a participant, reads its first messages, then stops reading (a frozen tab).

    Its receive buffer is small, so the pod's socket backs up within a second of frames instead of the
    megabytes loopback would buffer.
    """

    def __init__(self) -> None:
        self.ws: Any = None

    async def connect(self, base_url: str, index: int) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        port = int(base_url.rsplit(":", 1)[1])
        sock.connect(("127.0.0.1", port))
        sock.setblocking(False)
        uri = f"ws://127.0.0.1:{port}/socket.io/?EIO=4&transport=websocket"
        self.ws = await websockets.connect(uri, sock=sock, max_queue=4, ping_interval=None)
        opened = await self.ws.recv()
        assert isinstance(opened, str) and opened.startswith("0"), opened
        await self.ws.send(msgpack.packb({"type": 0, "nsp": "/", "data": {"token": token(index)}}))
        connected = msgpack.unpackb(await self.ws.recv())
        assert connected["type"] == 0, connected
        # from here on nothing is read, until `catch_up`

    async def catch_up(self, step_now: int) -> int:
        """Read again (the tab comes back) until a frame of step `step_now` or later arrives; its step."""
        while True:
            message = await self.ws.recv()
            if isinstance(message, bytes):
                packet = msgpack.unpackb(message)
                if packet.get("data", [None])[0] == Event.STATE and packet["data"][1]["f"] >= step_now:
                    return int(packet["data"][1]["f"])


def held_for(pod: Pod, sid: str) -> tuple[int, int]:
    """(frames in the connection's engine.io queue, bytes in its transport's write buffer)."""
    assert pod.wire is not None
    socket_ = pod.sio.eio.sockets[pod.sio.manager.eio_sid_from_sid(sid, "/")]
    direct = pod.wire.lane(socket_).direct
    assert direct is not None, "the paused client is a websocket the wire writes to"
    return socket_.queue.qsize(), direct.protocol.transport.get_write_buffer_size()


async def test_a_paused_client_is_dropped_frames_counted_and_bounded_while_the_others_get_every_frame(
    tmp_path: Path,
):
    bundle = ROOT / "tests" / "fixtures" / "bundle"
    async with served_pod(tmp_path, noisy_experiment(), bundle_dir=bundle) as (url, pod):
        players = [Player(url, i) for i in range(3)]
        for player in players:
            await player.connect()
        paused = PausedClient()
        await paused.connect(url, 9)
        await until(lambda: "wire-9" in pod.sessions and pod.sessions["wire-9"].sid is not None, 10, "the session")
        slow = pod.sessions["wire-9"]
        assert slow.sid is not None and pod.wire is not None
        held = []
        await until(lambda: pod.metrics.frames_dropped >= 90, 20, "90 dropped frames")
        held.append(held_for(pod, slow.sid))
        sent_so_far = pod.metrics.frames_sent
        await until(lambda: pod.metrics.frames_sent >= sent_so_far + 60, 20, "60 more frames to the others")
        held.append(held_for(pod, slow.sid))
        frame_bytes = max(len(raw) for player in players for raw in player.raw)
        game = slow.game
        assert game is not None
        step_now = game.step
        caught_up = await asyncio.wait_for(paused.catch_up(step_now), 30)
        for player in players:
            await player.sio.disconnect()
        paused.ws.transport.abort()
        dropped = pod.metrics.frames_dropped
        healthy = [pod.sessions[f"wire-{i}"] for i in range(3)]

    for queued, buffered in held:
        assert queued <= MAX_WAITING_FRAMES + 2, "frames (and a ping or two) queued, no more"
        assert buffered <= frame_bytes + 16, "the pod holds the rest of one frame at most"
    assert held[1][0] >= held[0][0] - 2, "still stuck, still bounded"
    assert caught_up >= step_now, "back, the tab gets current frames again"
    assert slow.progress.frames_dropped == dropped >= 90, "every drop was the paused client's, and counted there"
    tables = read_tables(LocalStorage(tmp_path / "storage"), "cartpole", ("sessions", "events"))
    sessions = {row["participant"]: row for row in tables["sessions"].to_pylist()}
    assert sessions["wire-9"]["frames_dropped"] == dropped, "the count is in the participant's sessions row"
    assert all(sessions[f"wire-{i}"]["frames_dropped"] == 0 for i in range(3))
    events = [row for row in tables["events"].to_pylist() if row["kind"] == "frames_dropped"]
    assert [row["participant"] for row in events] == ["wire-9"], "one event row when a connection starts falling behind"
    for session, player in zip(healthy, players, strict=True):
        assert session.progress.frames_dropped == 0
        assert_every_step_in_order(player)
        assert len(player.states) >= 60
