"""Bot participants: walk an experiment end to end over real socket.io, as a browser would.

Researchers pilot a study with them (`gymkube bot URL --count 10`); the tests and the
benchmarks use them to play. A bot answers every survey with valid answers, ticks a page's required
fields, holds keys for a few frames at a time (in a `tap` game it taps them; in a `turn` game it answers
each new frame with one press after a moment's thought), and logs every input it sends so its data can be
checked.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import socketio

from gymkube.game_pod.protocol import Event


def valid_answer(question: dict[str, Any], rng: random.Random) -> Any:
    """Some answer the server accepts for a survey question (as sent by the browser)."""
    kind = question["type"]
    if kind == "likert":
        return rng.randint(1, question["points"])
    if kind == "single":
        return rng.choice(question["options"])
    if kind == "multiple":
        return rng.sample(question["options"], k=rng.randint(1, len(question["options"])))
    if kind == "number":
        low = float(question["min"]) if question.get("min") is not None else 0.0
        high = float(question["max"]) if question.get("max") is not None else low + 10
        return rng.randint(int(low), int(high)) if question.get("integer") else rng.uniform(low, high)
    return "bot answer"


@dataclass
class SentInput:
    """One input the bot sent."""

    seq: int
    key: str
    down: bool
    frame: int
    episode: int


@dataclass
class ParticipantBot:
    """One simulated participant."""

    entry_url: str
    seed: int = 0
    hold_frames: tuple[int, int] = (3, 10)
    press_probability: float = 0.5
    stop_at: str | None = None
    extra_rtt_ms: float = 0.0
    """Added to every measured round trip, to play a participant on a slow connection."""
    think_s: tuple[float, float] = (0.01, 0.05)
    """In a `turn` game: how long the bot takes before pressing, after each new frame."""
    skip_turns: int = 0
    """In a `turn` game: the first this many frames of each episode get no press (the turn times out)."""
    unity_episodes: tuple[int, ...] = (3, 2)
    """In a Unity scene, the bot reports these episodes (steps in each) as a build would..."""
    unity_done: bool = True
    """...and then that the scene is over (else the scene's time limit ends it)."""
    unity_acks: list[dict[str, Any]] = field(default_factory=list)
    rng: random.Random = field(init=False)
    pod_url: str = ""
    token: str = ""
    cookies: httpx.Cookies = field(default_factory=httpx.Cookies)
    """The entry's cookies, kept as a browser keeps them (a second `enter` is a returning participant)."""
    scenes: list[dict[str, Any]] = field(default_factory=list)
    inputs: list[SentInput] = field(default_factory=list)
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    states: int = 0
    first_state: dict[str, Any] | None = None
    last_state: dict[str, Any] | None = None
    hud: str | None = None
    """The heads-up line on screen (states carry it when it changes)."""
    resumed: list[bool] = field(default_factory=list)
    completion_code: str | None = None
    end_reason: str | None = None
    agent: str | None = None
    players: list[dict[str, Any]] = field(default_factory=list)
    waiting: list[dict[str, Any]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    refused: dict[str, Any] | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.sio = socketio.AsyncClient(serializer="msgpack", reconnection=False)
        self._seq = 0
        self._held: str | None = None
        self._hold_left = 0
        self._keys: list[str] = []
        self._input_mode = "held"
        self._answered: tuple[Any, Any, Any] | None = None  # the frame a turn-based press answered last
        self._tasks: set[asyncio.Task[None]] = set()
        self._pinger: asyncio.Task[None] | None = None
        self._shown_ms: float | None = None  # when the newest state was "drawn" (received)
        self._draws: list[tuple[str, int, int, float]] = []  # (game, episode, step, ms) not yet reported
        self._register()

    async def enter(self) -> None:
        """Follow the entry redirect to the pod and keep the token."""
        async with httpx.AsyncClient(follow_redirects=False, timeout=10, cookies=self.cookies) as client:
            response = await client.get(self.entry_url)
            self.cookies = client.cookies  # as a browser keeps the entry's cookie: a second entry is a return
        if response.status_code != 303:
            raise RuntimeError(f"entry answered {response.status_code}: {response.text[:200]}")
        location = response.headers["location"]
        parts = urlsplit(location)
        self.pod_url = f"{parts.scheme}://{parts.netloc}{parts.path}"
        self.token = parse_qs(parts.query)["t"][0]

    @property
    def socketio_path(self) -> str:
        """Where the pod serves socket.io (below its base path)."""
        return urlsplit(self.pod_url).path.rstrip("/") + "/socket.io"

    async def connect(self) -> None:
        """Open the socket to the pod with the token."""
        await self.sio.connect(
            self.pod_url,
            socketio_path=self.socketio_path,
            transports=["websocket"],
            auth={"token": self.token, "client": {"ua": "gymkube-bot", "screen": [1920, 1080]}},
        )
        self._pinger = asyncio.get_running_loop().create_task(self._measure_latency())

    async def _report_draws(self) -> None:
        """Report when states were shown (received, for a bot), one message per game episode, as the browser does."""
        draws, self._draws = self._draws, []
        batches: dict[tuple[str, int], tuple[list[int], list[float]]] = {}
        for game, episode, step, ms in draws:
            steps, times = batches.setdefault((game, episode), ([], []))
            steps.append(step)
            times.append(ms)
        for (game, episode), (steps, times) in batches.items():
            await self.sio.emit(Event.TELEMETRY, {"kind": "frames", "g": game, "e": episode, "f": steps, "ms": times})

    async def _measure_latency(self) -> None:
        """Ping the pod every second and report the round trip (and the frames shown), as the browser does."""
        while self.sio.connected:
            try:
                await self._report_draws()
            except Exception:
                return
            sent = time.time() * 1000
            try:
                ack = await self.sio.call(Event.PING, {"t": sent}, timeout=5)
            except Exception:
                return
            rtt = time.time() * 1000 - sent + self.extra_rtt_ms
            offset = float(ack.get("s") or 0) - (sent + rtt / 2)
            await self.sio.emit(Event.TELEMETRY, {"kind": "latency", "rtt": rtt, "offset": offset, "t": sent})
            await asyncio.sleep(1.0)

    async def disconnect(self) -> None:
        """Close the socket (as closing the tab would: the page reports its last frames on the way out)."""
        if self._pinger is not None:
            self._pinger.cancel()
        if self.sio.connected:
            try:
                await self._report_draws()
            except Exception:  # the connection went first
                pass
        await self.sio.disconnect()

    def twin(self) -> ParticipantBot:
        """A new bot for the same participant, as a reloaded page or a second tab would be."""
        other = ParticipantBot(self.entry_url, seed=self.seed + 1000)
        other.pod_url, other.token = self.pod_url, self.token
        return other

    async def wait_for_states(self, count: int, timeout_s: float = 30.0) -> None:
        """Until this bot has seen `count` game states."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while self.states < count:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"saw {self.states} of {count} states")
            await asyncio.sleep(0.02)

    async def run(self, timeout_s: float = 120.0) -> ParticipantBot:
        """Enter, connect and play until the end scene (or `stop_at`), within a time limit."""
        if not self.token:
            await self.enter()
        await self.connect()
        try:
            await asyncio.wait_for(self.done.wait(), timeout_s)
        finally:
            await self.disconnect()
        return self

    async def send_key(self, key: str, down: bool, frame: int, episode: int) -> None:
        """Send one input event and log it."""
        self._seq += 1
        self.inputs.append(SentInput(self._seq, key, down, frame, episode))
        now = time.time() * 1000
        payload = {"s": self._seq, "k": key, "d": down, "t": now, "f": frame, "ft": self._shown_ms, "e": episode}
        await self.sio.emit(Event.INPUT, payload)

    async def _on_state(self, state: dict[str, Any]) -> None:
        self.states += 1
        self.first_state = self.first_state or state
        self.last_state = state
        if isinstance(state.get("hud"), str):
            self.hud = state["hud"]
        game, episode, step = state.get("g"), state.get("e"), state.get("f")
        if isinstance(game, str) and isinstance(episode, int) and isinstance(step, int):
            self._shown_ms = time.time() * 1000
            self._draws.append((game, episode, step, self._shown_ms))
        if not self._keys:
            return
        frame, episode = int(state.get("f") or 0), int(state.get("e") or 0)
        if self._input_mode == "turn":
            if self._answered != (game, episode, step) and frame >= self.skip_turns:
                self._answered = (game, episode, step)
                task = asyncio.get_running_loop().create_task(self._take_turn(frame, episode))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            return
        if self._input_mode == "tap":
            if self.rng.random() < self.press_probability:
                key = self.rng.choice(self._keys)
                await self.send_key(key, True, frame, episode)
                await self.send_key(key, False, frame, episode)
            return
        if self._held is not None:
            self._hold_left -= 1
            if self._hold_left <= 0:
                key, self._held = self._held, None
                await self.send_key(key, False, frame, episode)
            return
        if self.rng.random() < self.press_probability:
            self._held = self.rng.choice(self._keys)
            self._hold_left = self.rng.randint(*self.hold_frames)
            await self.send_key(self._held, True, frame, episode)

    async def _take_turn(self, frame: int, episode: int) -> None:
        """Think a moment, then press and release one key (a turn-based game steps once)."""
        await asyncio.sleep(self.rng.uniform(*self.think_s))
        if self._keys and self.sio.connected:
            key = self.rng.choice(self._keys)
            await self.send_key(key, True, frame, episode)
            await self.send_key(key, False, frame, episode)

    async def _on_scene(self, message: dict[str, Any]) -> None:
        await self._report_draws()  # the browser reports a game's last frames when its scene changes
        scene = message["scene"]
        self.scenes.append(scene)
        self.resumed.append(bool(message.get("resumed")))
        if scene["id"] == self.stop_at:
            self.done.set()
            return
        kind = scene["type"]
        if kind == "end":
            self.completion_code = scene.get("code")
            self.end_reason = scene.get("reason")
            self.done.set()
        elif kind == "static":
            await asyncio.sleep(float(scene.get("minTimeS") or 0))
            await self._finish(scene["id"], dict.fromkeys(scene.get("required") or [], True) or None)
        elif kind == "survey":
            answers = {q["id"]: valid_answer(q, self.rng) for q in scene["questions"]}
            self.answers[scene["id"]] = answers
            await self._finish(scene["id"], answers)
        elif kind == "unity" and not message.get("resumed"):
            await self._report_unity(scene["id"])

    async def _report_unity(self, scene_id: str) -> None:
        """What a Unity build's bridge reports: `unity_episodes` of steps with columns, then (maybe) done."""
        seq = int(time.time() * 1e6)
        entries: list[dict[str, Any]] = []

        def entry(kind: str, **fields: Any) -> None:
            nonlocal seq
            seq += 1
            entries.append({"kind": kind, "q": seq, "t": time.time() * 1000, **fields})

        for episode, steps in enumerate(self.unity_episodes, 1):
            entry("start", info={"level": episode})
            for step in range(1, steps + 1):
                entry("step", c={"x": step, "move": self.rng.choice(["left", "right", "jump"])})
            entry("end", status="terminated", score=float(steps))
        if self.unity_done:
            entry("done")
        if entries:
            self.unity_acks.append(await self.sio.call(Event.UNITY, {"s": scene_id, "x": entries}, timeout=10))

    async def _finish(self, scene_id: str, answers: dict[str, Any] | None) -> None:
        ack = await self.sio.call(Event.SCENE_DONE, {"scene": scene_id, "answers": answers}, timeout=10)
        if not ack.get("ok"):
            raise RuntimeError(f"scene {scene_id} refused: {ack}")

    def _register(self) -> None:
        @self.sio.on(Event.SCENE)
        async def on_scene(message: dict[str, Any]) -> None:
            await self._on_scene(message)

        @self.sio.on(Event.GAME)
        async def on_game(message: dict[str, Any]) -> None:
            self.agent, self.players = message.get("agent"), list(message.get("players") or [])
            self._keys = list(message.get("keys") or []) if message["status"] == "playing" else []
            self._input_mode = str(message.get("input") or "held")
            if message["status"] != "playing" and self._held is not None:
                self._held = None

        @self.sio.on(Event.STATE)
        async def on_state(state: dict[str, Any]) -> None:
            await self._on_state(state)

        @self.sio.on(Event.WAITING)
        async def on_waiting(message: dict[str, Any]) -> None:
            self.waiting.append(message)

        @self.sio.on(Event.NOTICE)
        async def on_notice(message: dict[str, Any]) -> None:
            self.notices.append(str(message.get("text")))

        @self.sio.on(Event.REFUSED)
        async def on_refused(message: dict[str, Any]) -> None:
            self.refused = message
            self.done.set()


async def run_bots(
    entry_url: str,
    count: int,
    timeout_s: float = 300.0,
    on_finish: Callable[[ParticipantBot, BaseException | None], None] | None = None,
) -> list[ParticipantBot]:
    """Play `count` bots at once; each gets its own participant id.

    One bot's failure (a timeout, a refused connection) is its own: `on_finish(bot, error)` is told as
    each bot ends, with the exception that ended it or None; without `on_finish` the first failure raises.
    """
    separator = "&" if "?" in entry_url else "?"
    bots = [ParticipantBot(f"{entry_url}{separator}bot={i}", seed=i) for i in range(count)]

    async def play(bot: ParticipantBot) -> None:
        try:
            await bot.run(timeout_s)
        except Exception as exc:
            if on_finish is None:
                raise
            on_finish(bot, exc)
        else:
            if on_finish is not None:
                on_finish(bot, None)

    await asyncio.gather(*(play(bot) for bot in bots))
    return bots
