"""Fuzz: every socket.io event of the protocol, with generated payloads, against a live pod while honest bots play.

Properties: after every example the pod answers (a ping on a connection, `/load` over HTTP) and
its data writer writes; at the end every honest participant finished with a code, every step
they played is in storage, `gymkube check` finds nothing wrong, and the pod logged no traceback.

Seeded and bounded here (`FUZZ_EXAMPLES`, default 100); `make fuzz` runs thousands with a fresh seed.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import threading
from collections import Counter
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
import yaml
from conftest import FORAGE_DIR, ROOT, game_pod_process, quick_manifest
from hostile import RAW, claims, client_descriptions, socket_event, unity_event, with_game
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from gymkube.bot import ParticipantBot
from gymkube.integrity.check import check_experiment
from gymkube.keys import token_key
from gymkube.storage import LocalStorage
from gymkube.storage.export import read_tables
from gymkube.tokens import sign_token

SECRET = "fuzzing-secret"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "100"))
LONG_RUN = "FUZZ_EXAMPLES" in os.environ
UNITY_FIXTURE = ROOT / "tests" / "fixtures" / "unity"


class Study:
    """The participants of the fuzzed pod, on an event loop of their own (hypothesis drives them from the test)."""

    def __init__(self, base: str, experiment: str = "forage-ai") -> None:
        self.base = base
        self.experiment = experiment
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.honest: list[ParticipantBot] = []
        self.attacker: ParticipantBot | None = None
        self.attackers = 0
        self.stop = asyncio.Event()
        self.playing = self.run(self._start_honest())

    def run(self, coroutine: Coroutine[Any, Any, Any], timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def participant(self, name: str, **options: Any) -> ParticipantBot:
        bot = ParticipantBot("unused", seed=len(self.honest), **options)
        bot.pod_url = f"{self.base}/"
        claims = {"x": self.experiment, "p": name, "s": f"s-{name}", "n": 0, "q": {}}
        bot.token = sign_token(token_key(SECRET), claims)
        return bot

    async def _start_honest(self) -> asyncio.Task[None]:
        return asyncio.get_running_loop().create_task(self._honest_one_after_another())

    async def _honest_one_after_another(self) -> None:
        while not self.stop.is_set():
            bot = self.participant(f"honest-{len(self.honest)}")
            self.honest.append(bot)
            await bot.run(120)

    async def ensure_attacker(self) -> ParticipantBot:
        """A participant with a modified page, connected and in a game (a new one when the last was sent away)."""
        bot = self.attacker
        if bot is None or not bot.sio.connected or bot.done.is_set() or not playing(bot):
            if bot is not None:
                await bot.disconnect()
            self.attackers += 1
            bot = self.attacker = self.participant(
                f"mallory-{self.attackers}", press_probability=0.0, unity_episodes=(), unity_done=False
            )
            await bot.connect()
            for _ in range(200):
                if playing(bot) or bot.refused:
                    break
                await asyncio.sleep(0.02)
        return bot

    async def send(self, events: list[tuple[str, tuple[Any, ...]]]) -> None:
        bot = await self.ensure_attacker()
        game = str((bot.last_state or {}).get("g"))
        for name, args in events:
            if not bot.sio.connected:
                return  # disconnected for a reason of the pod's (oversize): allowed
            if name == RAW:
                await bot.sio.eio.send(args[0])
                continue
            payload = with_game(args, game)
            await bot.sio.emit(name, payload[0] if len(payload) == 1 else payload)
        if bot.sio.connected:
            try:
                ack = await bot.sio.call("ping", {"t": 1.0}, timeout=10)
            except socketio.exceptions.TimeoutError:  # allowed only when the pod closed the connection (oversize)
                await asyncio.sleep(1.0)
                assert not bot.sio.connected, "the pod did not answer a ping on an open connection"
                return
            assert isinstance(ack, dict) and isinstance(ack.get("s"), float), ack

    async def try_connect(self, auth: Any) -> None:
        """A connection with whatever auth: refused, or admitted, never an error."""
        bot = self.participant("unused")
        refused = asyncio.Event()
        bot.sio.on("refused", lambda *_: refused.set())
        try:
            await bot.sio.connect(bot.pod_url, socketio_path="/socket.io", transports=["websocket"], auth=auth)
        except Exception:
            return  # the connection was turned away before it opened
        await asyncio.sleep(0.05)
        await bot.sio.disconnect()

    async def finish(self) -> None:
        self.stop.set()
        await asyncio.wait_for(self.playing, 180)
        if self.attacker is not None:
            await self.attacker.disconnect()


def playing(bot: ParticipantBot) -> bool:
    """In a game (a state came) or in a Unity scene."""
    return bot.last_state is not None or bool(bot.scenes and bot.scenes[-1]["type"] == "unity")


def assert_pod_answers_and_writes(base: str) -> None:
    load = httpx.get(f"{base}/load", timeout=10).json()
    assert load["ready"] and load["writer_error"] is None, load
    assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200


Events = list[tuple[str, tuple[Any, ...]]]


def fuzz_live_pod(
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    document: dict[str, Any],
    bundle_dir: Path,
    max_examples: int,
    events: st.SearchStrategy[Events],
    auth: st.SearchStrategy[Any],
) -> tuple[Study, dict[str, list[dict[str, Any]]]]:
    """Fuzz a live pod while honest bots play one after another, and check what holds in every study.

    Each example sends `events` from an attacker's page and, where `auth` gives one (`st.none()`: never),
    opens a connection with it; after it, the pod answers and writes. Once the honest bots stop and the
    pod has drained and flushed: no traceback, every honest participant finished with a code, `gymkube
    check` finds nothing wrong. Returns the study and the stored tables, for the checks of the study's own game.
    """
    experiment = document["metadata"]["name"]
    # The attacker's last game is cut short when the pod stops (drain: 1 s), not waited for: its rows are
    # checked like any interrupted game's, and the honest participants have all finished by then.
    with game_pod_process(tmp_path, document, secret=SECRET, bundle_dir=str(bundle_dir), drain_timeout_s="1") as port:
        study = Study(f"http://127.0.0.1:{port}", experiment)
        try:

            @settings(
                max_examples=max_examples,
                deadline=None,
                database=None,
                derandomize=not LONG_RUN,
                suppress_health_check=list(HealthCheck),
                phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking against a live pod takes long
            )
            @given(events=events, auth=auth)
            def whatever_a_page_sends(events: Events, auth: Any) -> None:
                study.run(study.send(events))
                if auth is not None:
                    study.run(study.try_connect(auth))
                assert_pod_answers_and_writes(study.base)

            whatever_a_page_sends()
            study.run(study.finish(), timeout=240)
        finally:
            study.loop.call_soon_threadsafe(study.loop.stop)
    logs = capfd.readouterr()
    assert "Traceback" not in logs.err + logs.out, (logs.err + logs.out)[-5000:]
    assert study.honest and all(bot.completion_code and bot.refused is None for bot in study.honest)
    storage = LocalStorage(tmp_path / "storage")
    report = check_experiment(storage, experiment)
    assert report.ok, report.render()
    return study, {name: table.to_pylist() for name, table in read_tables(storage, experiment).items()}


def test_whatever_pages_send_the_pod_answers_keeps_writing_and_every_honest_step_is_stored(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
):
    document = yaml.safe_load(quick_manifest(tmp_path, "forage_ai.yaml", episodes=1, maxSteps=150, fps=30).read_text())
    document["spec"]["capacity"] = 500
    controls = document["spec"]["scenes"][2]["controls"]  # combinations and a gamepad: more for a page to get wrong
    controls["keys"]["ArrowUp+ArrowLeft"] = 1
    controls["gamepad"] = {"buttons": {0: 2}, "axes": {"1-": 1}}
    auth = st.none() | st.fixed_dictionaries(
        {"token": st.one_of(claims.map(lambda c: sign_token(token_key(SECRET), c)), st.text(max_size=50))},
        optional={"client": client_descriptions},
    )
    events = st.lists(socket_event(), min_size=1, max_size=6)
    study, tables = fuzz_live_pod(tmp_path, capfd, document, FORAGE_DIR, EXAMPLES, events, auth)
    for bot in study.honest:
        who = f"honest-{study.honest.index(bot)}"
        (episode,) = [e for e in tables["episodes"] if e["participant"] == who]
        steps = sorted(r["step"] for r in tables["steps"] if r["participant"] == who)
        assert episode["status"] in ("terminated", "truncated") and steps == list(range(1, episode["steps"] + 1))
        sent = {i.seq for i in bot.inputs}
        consumed = {r["input_seq_blue"] for r in tables["steps"] if r["participant"] == who} - {None}
        assert consumed <= sent, "every input a step consumed is one the honest participant sent"
    ignored: dict[str, int] = {}
    for session in tables["sessions"]:
        for kind, n in json.loads(session.get("ignored_events") or "{}").items():
            ignored[kind] = ignored.get(kind, 0) + n
    print(f"{EXAMPLES} examples, {study.attackers} attackers, ignored: {sorted(ignored.items())}")
    print("events:", sorted(Counter(e["kind"] for e in tables["events"]).items()))
    reached = {kind.split(":")[0] for kind in ignored}
    assert {"malformed", "unknown"} <= reached, "the payloads reached the pod's checks"


def test_whatever_pages_send_in_a_unity_scene_the_honest_reports_are_all_stored(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
):
    sys.path.insert(0, str(UNITY_FIXTURE))
    try:
        from make_build import write_build
    finally:
        sys.path.remove(str(UNITY_FIXTURE))
    write_build(tmp_path / "bundle" / "game")
    document = {
        "apiVersion": "gymkube.io/v1alpha1", "kind": "Experiment", "metadata": {"name": "unity-fuzz"},
        "spec": {"capacity": 500, "scenes": [{"type": "unity", "id": "play", "build": "game/Build", "timeLimitS": 20},
                                             {"type": "end"}]},
    }  # fmt: skip
    events = st.lists(socket_event(), min_size=1, max_size=6) | st.lists(unity_event(), min_size=1, max_size=6)
    study, tables = fuzz_live_pod(
        tmp_path, capfd, document, tmp_path / "bundle", max(10, EXAMPLES // 2), events, st.none()
    )
    for index in range(len(study.honest)):
        who = f"honest-{index}"
        episodes = sorted((e["episode"], e["steps"]) for e in tables["episodes"] if e["participant"] == who)
        # A column the attacker filled with text is text for everyone (the table keeps one type per column).
        steps = sorted((r["episode"], r["step"], str(r["x"])) for r in tables["steps"] if r["participant"] == who)
        assert episodes == [(1, 3), (2, 2)]
        assert steps == [(1, 1, "1"), (1, 2, "2"), (1, 3, "3"), (2, 1, "1"), (2, 2, "2")]
    ignored = Counter(
        kind.split(":")[0] for s in tables["sessions"] for kind in json.loads(s.get("ignored_events") or "{}")
    )
    assert ignored["malformed"] and ignored["refused"], ignored  # the batches reached the checks and UnityRun
