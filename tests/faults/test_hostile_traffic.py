"""Fault: hostile socket traffic from participants with valid links, while others play.

Unknown events, wrong types, wrong argument counts, numbers no column can hold (2**64-1, NaN),
bytes where text belongs, oversize payloads and a flood of 1,000 messages a second: the offender
is ignored, rate-limited or disconnected with a logged reason; nothing raises on the server, the
data writer keeps writing, and the honest participants play on at full frame rate.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import socketio
from conftest import quick_manifest
from datacheck import assert_one_row_per_tick

from gymkube.bot import ParticipantBot
from gymkube.game_pod.protocol import Event

FPS = 30

GARBAGE: list[tuple[str, tuple[Any, ...]]] = [
    ("no_such_event", ({"x": 1},)),
    ("__proto__", (None,)),
    ("connect", ({"token": "again"},)),
    ("disconnect", ("goodbye",)),
    (Event.INPUT, ("ArrowLeft",)),
    (Event.INPUT, ({"k": ["ArrowLeft"], "d": "yes", "s": "1", "t": "now", "f": {}, "e": [], "ft": "x"},)),
    (Event.INPUT, ({"k": "ArrowLeft", "d": True, "s": 2**63 - 1, "t": float("nan"), "f": -1, "e": -(2**63)},)),
    (Event.INPUT, ({"k": "ArrowLeft", "d": True, "s": 2**64 - 1, "t": 1.0, "f": 2**64 - 1, "e": 2**64 - 1},)),
    (Event.INPUT, ({"k": "ArrowLeft", "d": True, "s": 7, "t": 2**64 - 1, "f": 1, "ft": float("inf")},)),
    (Event.INPUT, ({"k": b"ArrowLeft", "d": True, "s": 8, "t": 1.0, "f": 1},)),
    (Event.PING, ({"t": b"\xff" * 10},)),
    (Event.TELEMETRY, ({"kind": "latency", "rtt": float("nan"), "offset": 2**64 - 1},)),
    (Event.TELEMETRY, ({"kind": "error", "message": b"\xff\xfe"},)),
    (Event.TELEMETRY, ({"kind": "visibility", "state": "hidden", "t": b"x"},)),
    (Event.TELEMETRY, ({"kind": "frames", "g": "a\nb", "e": 2**64 - 1, "f": [2**64 - 1], "ms": [float("nan")]},)),
    (Event.RECORDS, ({"g": "x", "x": [{"k": "step", "row": {"obs": 2**64 - 1}}]},)),
    (Event.SIGNAL, ({"to": "blue", "d": {"sdp": b"\x00" * 100}},)),
    (Event.RELAY, ({"to": "red", "d": "x" * 40_000},)),
    (Event.INPUT, ({"k": "ArrowLeft", "d": True, "s": 5}, "extra", "arguments")),
    (Event.INPUT, ()),
    (Event.SCENE_DONE, ({"scene": ["x"], "answers": [1, 2, 3]},)),
    (Event.SCENE_DONE, ("consent",)),
    (Event.PING, ({"t": {"nested": [1, 2, {"deep": None}]}},)),
    (Event.TELEMETRY, ({"kind": 123},)),
    (Event.TELEMETRY, ({"kind": "latency", "rtt": -5, "offset": "x"},)),
    (Event.TELEMETRY, ({"kind": "frames", "g": "nope", "e": 1, "f": list(range(5000)), "ms": [1.0] * 5000},)),
    (Event.TELEMETRY, ({"kind": "frames", "g": {"a": 1}, "e": "1", "f": "abc", "ms": None},)),
    (Event.TELEMETRY, ({"kind": "error", "message": "x" * 50_000},)),
    (Event.TURN, ({"give": "me everything"},)),
    (Event.STATE, ({"o": []},)),
]


class Attacker:
    """A participant with a valid link whose page sends whatever it likes."""

    def __init__(self, entry_url: str) -> None:
        self.bot = ParticipantBot(entry_url)
        self.sio = socketio.AsyncClient(serializer="msgpack", reconnection=False)
        self.disconnected = asyncio.Event()
        self.sio.on("disconnect", lambda *_: self.disconnected.set())

    async def connect(self, client: Any = None) -> None:
        await self.bot.enter()
        await self.sio.connect(
            self.bot.pod_url, socketio_path=self.bot.socketio_path, transports=["websocket"],
            auth={"token": self.bot.token, "client": client},
        )  # fmt: skip


def test_hostile_participants_are_ignored_or_dropped_and_the_others_keep_their_frame_rate(
    platform_factory, tmp_path: Path
):
    platform = platform_factory(quick_manifest(tmp_path, "forage_ai.yaml", episodes=1, maxSteps=300, fps=FPS))

    async def attack_while_others_play() -> tuple[list[ParticipantBot], list[Attacker], float]:
        honest = [ParticipantBot(platform.entry("forage-ai", PROLIFIC_PID=f"ok{i}"), seed=i) for i in range(2)]
        runs = [asyncio.create_task(bot.run(60)) for bot in honest]
        for bot in honest:
            await bot.wait_for_states(FPS)
        rude, oversize, flooder, liar = (
            Attacker(platform.entry("forage-ai", PROLIFIC_PID=n)) for n in ("rude", "big", "flood", "liar")
        )
        for attacker in (rude, oversize, flooder):
            await attacker.connect()
        # A page that describes itself with bytes and numbers no column holds (this stopped the writer once).
        await liar.connect({"ua": b"\xff" * 100, "screen": [2**64 - 1, b"x"], "viewport": float("nan"), "tz": 7})
        before, started = [bot.states for bot in honest], time.monotonic()

        for name, args in GARBAGE:  # each at most once a frame: below any rate limit
            await rude.sio.emit(name, args[0] if len(args) == 1 else (args or None))
            await asyncio.sleep(1 / FPS)
        await oversize.sio.emit(Event.TELEMETRY, {"kind": "error", "message": "x" * (2 << 20)})
        for n in range(3 * 1000):  # 1,000 a second for up to 3 s
            if flooder.disconnected.is_set():
                break
            await flooder.sio.emit(Event.INPUT, {"k": "ArrowLeft", "d": n % 2 == 0, "s": n, "t": 0.0, "f": 0, "e": 1})
            if n % 10 == 9:
                await asyncio.sleep(0.01)
        await asyncio.sleep(1.0)
        fps = min((bot.states - b) / (time.monotonic() - started) for bot, b in zip(honest, before, strict=True))
        load = httpx.get(honest[0].pod_url.rstrip("/") + "/load").json()
        return list(await asyncio.gather(*runs)), [rude, oversize, flooder, liar], fps, load

    honest, (rude, oversize, flooder, liar), honest_fps, load = asyncio.run(attack_while_others_play())
    assert all(bot.completion_code for bot in honest), "the honest participants finished"
    assert honest_fps >= 0.9 * FPS, f"honest participants got {honest_fps:.1f} fps during the attack"
    assert rude.sio.connected, "malformed messages are ignored, not punished with a disconnect"
    assert oversize.disconnected.is_set() and flooder.disconnected.is_set()
    assert load["ready"] and load["writer_error"] is None, "the pod's data writer kept writing"
    platform.stop()

    log = platform.log_path.read_text()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]
    assert "events in one second" in log, "the flood disconnect is logged with its reason"
    assert "oversize" in log or "too large" in log, "the oversize disconnect is logged"
    data = platform.tables("forage-ai")
    kinds = [(e["participant"], e["kind"]) for e in data["events"]]
    assert ("flood", "flood_disconnect") in kinds
    assert sorted(json.loads(e["detail"])["event"] for e in data["events"] if e["kind"] == "unknown_event") == [
        "__proto__", "connect", "disconnect", "no_such_event", "state",
    ]  # fmt: skip
    sessions = {s["participant"]: s for s in data["sessions"]}
    assert sessions["liar"]["user_agent"] == "" and sessions["liar"]["screen"] is None
    ignored = json.loads(sessions["rude"]["ignored_events"])
    assert ignored["malformed:input"] >= 5 and ignored["malformed:telemetry"] >= 5, ignored
    assert not [e for e in data["events"] if e["kind"] == "quarantined"], "nothing reached the writer unchecked"
    honest_steps = [r for r in data["steps"] if r["participant"].startswith("ok")]
    assert_one_row_per_tick(honest_steps, [e for e in data["episodes"] if e["participant"].startswith("ok")], FPS)
    platform.assert_data_sound("forage-ai")
