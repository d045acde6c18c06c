"""Benchmark: how many `client`-mode participants one game pod serves, and at what CPU, against `server` mode.

Run: `make bench-browser` or `python benchmarks/browser_capacity.py [--short] [--schedule 50,100]`.
The game is examples/pong_client.yaml (pure-Python Pong at 30 fps, one human and an ONNX AI
paddle), reduced to its gym and end scenes with no countdown and 1000 episodes so no game ends
during a run. For each N a fresh game pod is started pinned to core 0 (`taskset -c 0`); this
load generator runs on core 1. Each simulated browser is a `gymkube.bot.ParticipantBot` (its
socket.io client, its scene walk and its once-a-second ping and telemetry, as the page does) that,
on the `play` event, builds `gymkube.portable.sim.Solo` from the pod's config (the same Python the
browser runs under Pyodide), ticks it at 30 fps with the policy's logits computed here
([1, paddle - ball, ball - paddle], what policy.onnx computes), presses keys now and then, and
every second sends what `Solo.take()` returns as one `records` call with an ack.

Ticking a Solo costs about 50 us here, so past a budget of live games (a share of the load
generator's core, see LIVE_SIM_SHARE) the other participants replay entries recorded beforehand
from a real Solo run (times moved to now, episodes renumbered as the replay loops): every
participant still sends 30 step rows a second, which is what the pod works on. The output says
how many were live and how many replayed at each N.

Server mode for the same game is measured too (N = 50, 100 by default) with benchmarks/loadgen.py's
GymkubeClient (one `input` per received frame), and the CartPole server-mode rows of the newest
results/2026-11-24.json are quoted beside it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml
from capacity import cpu_window, measure_on, percentile, pin_loadgen, round1
from systems import free_port, stop_process

from gymkube.bot import ParticipantBot
from gymkube.game_pod.protocol import Event
from gymkube.keys import token_key
from gymkube.portable.sim import Solo
from gymkube.storage.backends import LocalStorage
from gymkube.storage.chunks import read_chunks
from gymkube.tokens import sign_token

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
DATE = "2026-11-24"
OUT = RESULTS / f"browser-capacity-{DATE}.json"
SERVER_RESULTS = RESULTS / f"{DATE}.json"
MANIFEST = ROOT / "examples" / "pong_client.yaml"
BUNDLE = ROOT / "examples" / "pong"
SECRET = "browser-capacity-benchmark-secret"
EXPERIMENT = "pong-client"
POD_CORE = 0
FPS = 30
SEND_EVERY_S = 1.0
SCHEDULE = [50, 100, 200, 400, 800]
SHORT_SCHEDULE = [20, 50]
SERVER_SCHEDULE = [50, 100]
MAX_P99_ACK_S = 1.0
CONNECTS_AT_ONCE = 16
LIVE_SIM_SHARE = 0.25
"""Share of the load generator's core that live Solo games may take; past it, participants replay."""
RECORDING_TICKS = 6000
"""Ticks of the Solo run that replaying participants send again (about 200 s of play)."""
BUDGET_S = 540.0
"""The whole run stops starting new steps after this long."""


def experiment(mode: str) -> dict[str, Any]:
    """examples/pong_client.yaml with only its gym and end scenes: no countdown, 1000 episodes, in `mode`."""
    document = yaml.safe_load(MANIFEST.read_text())
    spec = document["spec"]
    spec["scenes"] = [scene for scene in spec["scenes"] if scene["type"] in ("gym", "end")]
    spec["scenes"][0].update(countdownS=0, episodes=1000, mode=mode)
    spec["capacity"] = 5000
    spec.pop("bundle", None)  # the pod gets the folder as GYMKUBE_BUNDLE_DIR
    return dict(document)


def token(index: int) -> str:
    """A participant token as the gymkube entry would issue it."""
    return sign_token(
        token_key(SECRET), {"x": EXPERIMENT, "p": f"bench-{index}", "s": f"s{index}", "n": index, "q": {}}
    )


class Pod:
    """A `gymkube game-pod` process for the experiment, pinned to core 0, on a free 127.0.0.1 port."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.port = free_port()
        self.url = self.base_url = f"http://127.0.0.1:{self.port}"
        self.tmp = tempfile.TemporaryDirectory(prefix="bench-browser-")
        folder = Path(self.tmp.name)
        (folder / "experiment.json").write_text(json.dumps(document))
        env = {k: v for k, v in os.environ.items() if not k.startswith("GYMKUBE_")}
        env |= {
            "GYMKUBE_EXPERIMENT_FILE": str(folder / "experiment.json"),
            "GYMKUBE_BUNDLE_DIR": str(BUNDLE),
            "GYMKUBE_STORAGE": str(folder / "storage"),
            "GYMKUBE_SPOOL_DIR": str(folder / "spool"),
            "GYMKUBE_PORT": str(self.port),
            "GYMKUBE_SECRET": SECRET,
            "GYMKUBE_DRAIN_TIMEOUT_S": "5",
        }
        pin = ["taskset", "-c", str(POD_CORE)] if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else []
        self.log_path = folder / "pod.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [*pin, sys.executable, "-m", "gymkube", "game-pod"], cwd=folder, env=env, stdout=self.log,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        self.pinned = bool(pin)
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the game pod did not start")
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        """The pod's process id (taskset execs it)."""
        return self.process.pid

    def token(self, index: int) -> str:
        """Participant `index`'s token."""
        return token(index)

    def load(self) -> dict[str, Any]:
        """The pod's `/load` report."""
        return dict(httpx.get(f"{self.url}/load", timeout=5).json())

    def log_tail(self, chars: int = 2000) -> str:
        """The end of the pod's output."""
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        """Terminate (then kill) the pod; the storage folder stays until `cleanup()`."""
        stop_process(self.process, 30)
        self.log.close()

    def stored_rows(self) -> dict[str, int]:
        """Rows per table in the pod's storage (after `stop()`, which flushes)."""
        counts: dict[str, int] = {}
        for tables in read_chunks(LocalStorage(Path(self.tmp.name) / "storage"), EXPERIMENT):
            for name, table in tables.items():
                counts[name] = counts.get(name, 0) + table.num_rows
        return counts

    def cleanup(self) -> None:
        """Remove the pod's folder."""
        self.tmp.cleanup()


def policy_logits(solo: Solo) -> str:
    """The AI paddle's logits for this frame, as policy.onnx computes them from the feed."""
    feeds = json.loads(solo.feeds())
    out = {}
    for agent, _, inputs in feeds:
        paddle, ball = inputs[0], inputs[2]
        out[agent] = [1.0, paddle - ball, ball - paddle]
    return json.dumps(out)


class KeyPresser:
    """Holds ArrowUp or ArrowDown for 3-10 frames now and then, as a player would."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.seq = 0
        self.held: str | None = None
        self.left = 0

    def frame(self, solo: Solo, now: float) -> None:
        """Maybe press or release a key before this frame's tick."""
        frame = solo.sim.step
        if self.held is not None:
            self.left -= 1
            if self.left <= 0:
                self.seq += 1
                solo.key(self.held, False, self.seq, now, frame, now - 5)
                self.held = None
        elif self.rng.random() < 0.08:
            self.held, self.left = self.rng.choice(["ArrowUp", "ArrowDown"]), self.rng.randint(3, 10)
            self.seq += 1
            solo.key(self.held, True, self.seq, now, frame, now - 5)


def tick(solo: Solo, keys: KeyPresser, now: float) -> None:
    """One browser frame: keys, policy, step; the next episode starts when one ends."""
    if solo.sim.over:
        if solo.finished:
            return
        solo.start(now)
        return
    keys.frame(solo, now)
    solo.tick(policy_logits(solo), now)


def sim_config(play: dict[str, Any]) -> str:
    """The Solo's config from a `play` event, with where the bundle's Python lives."""
    return json.dumps(play["config"] | {"searchDir": str(BUNDLE)})


def tick_cost_s(config: str, ticks: int = 600) -> float:
    """Seconds of this process's CPU per Solo tick (with the policy and a key now and then)."""
    solo, keys = Solo(config), KeyPresser(0)
    solo.start(0.0)
    t0 = time.process_time()
    for i in range(ticks):
        tick(solo, keys, i * 1000 / FPS)
    return (time.process_time() - t0) / ticks


def record_entries(config: str) -> list[dict[str, Any]]:
    """A real Solo run's entries (times from 0 ms), for participants that replay."""
    solo, keys = Solo(config), KeyPresser(1)
    solo.start(0.0)
    for i in range(RECORDING_TICKS):
        tick(solo, keys, i * 1000 / FPS)
    entries: list[dict[str, Any]] = []
    while chunk := json.loads(solo.take()):
        entries += chunk
    while entries and entries[-1]["k"] != "end":  # loop at an episode boundary
        entries.pop()
    return entries


class Replay:
    """Sends a recorded Solo run again at 30 steps a second, episodes renumbered and times moved to now."""

    TIME_KEYS = ("t_client_ms", "input_client_ms_left", "input_frame_ms_left")

    def __init__(self, entries: list[dict[str, Any]], start_ms: float) -> None:
        self.entries = entries
        self.episodes = max(e["e"] for e in entries if e["k"] == "end")
        self.span_ms = max(e["row"]["t_client_ms"] for e in entries if e["k"] == "step") + 1000 / FPS
        self.start_ms = start_ms
        self.cursor = 0
        self.loop = 0

    def take(self, steps: int) -> list[dict[str, Any]]:
        """The next entries holding `steps` step rows."""
        out: list[dict[str, Any]] = []
        shift_e, shift_t = self.loop * self.episodes, self.start_ms + self.loop * self.span_ms
        while steps > 0 or (self.cursor < len(self.entries) and self.entries[self.cursor]["k"] == "end"):
            if self.cursor >= len(self.entries):
                self.cursor, self.loop = 0, self.loop + 1
                shift_e, shift_t = self.loop * self.episodes, self.start_ms + self.loop * self.span_ms
            entry = dict(self.entries[self.cursor])
            self.cursor += 1
            if entry["k"] == "step":
                row = dict(entry["row"], episode=entry["row"]["episode"] + shift_e)
                for key in self.TIME_KEYS:
                    if row.get(key) is not None:
                        row[key] += shift_t
                entry["row"] = row
                steps -= 1
            else:
                entry["e"] += shift_e
                entry["t"] = entry.get("t", 0.0) + shift_t
            out.append(entry)
        return out


@dataclass
class Browser:
    """One simulated participant's page: the bot's socket, its game, what it sent and how the pod answered."""

    index: int
    bot: ParticipantBot
    live: bool
    game: str | None = None
    solo: Solo | None = None
    replay: Replay | None = None
    keys: KeyPresser = field(init=False)
    playing: asyncio.Event = field(default_factory=asyncio.Event)
    acks: list[tuple[float, float, int]] = field(default_factory=list)
    """(sent at, ack latency s, step rows) of every acknowledged batch."""
    failures: list[tuple[float, str]] = field(default_factory=list)
    error: str | None = None

    def __post_init__(self) -> None:
        self.keys = KeyPresser(self.index)


async def send_loop(browser: Browser, stop: asyncio.Event) -> None:
    """Every second, what the game produced since the last batch goes to the pod as one acked `records` call."""
    await asyncio.sleep(random.random() * SEND_EVERY_S)  # pages do not send in step with each other
    pending: list[dict[str, Any]] = []
    next_at = time.perf_counter()
    while not stop.is_set() and browser.bot.sio.connected:
        next_at += SEND_EVERY_S
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        if browser.solo is not None:
            pending += json.loads(browser.solo.take())
        elif browser.replay is not None:
            pending += browser.replay.take(int(FPS * SEND_EVERY_S))
        if not pending:
            continue
        batch = pending[:2000]
        rows = sum(1 for e in batch if e["k"] == "step")
        sent = time.perf_counter()
        try:
            ack = await browser.bot.sio.call(Event.RECORDS, {"g": browser.game, "x": batch}, timeout=10)
        except Exception as exc:  # unanswered: kept for the next try, as the page does
            browser.failures.append((sent, f"no ack: {type(exc).__name__}"))
            continue
        latency = time.perf_counter() - sent
        if isinstance(ack, dict) and ack.get("ok"):
            del pending[: len(batch)]
            browser.acks.append((sent, latency, rows))
        else:
            del pending[: len(batch)]
            browser.failures.append((sent, f"refused: {str((ack or {}).get('error'))[:120]}"))


async def tick_loop(browsers: list[Browser], stop: asyncio.Event) -> None:
    """All live games ticked at 30 fps from one task (the pages' requestAnimationFrame loops)."""
    dt = 1 / FPS
    next_at = time.perf_counter()
    while not stop.is_set():
        now = time.time() * 1000
        for browser in browsers:
            if browser.solo is not None:
                tick(browser.solo, browser.keys, now)
        next_at += dt
        delay = next_at - time.perf_counter()
        if delay < -1:  # fell behind by more than a second: drop the backlog, as the page does
            next_at = time.perf_counter()
        await asyncio.sleep(max(0.0, delay))


def window_stats(browsers: list[Browser], t0: float, t1: float) -> dict[str, Any]:
    """Ack latencies, rows and failures of the batches sent in [t0, t1)."""
    latencies = [lat * 1000 for b in browsers for sent, lat, _ in b.acks if t0 <= sent < t1]
    rows = sum(n for b in browsers for sent, _, n in b.acks if t0 <= sent < t1)
    failures = [why for b in browsers for sent, why in b.failures if t0 <= sent < t1]
    return {
        "batches_acked": len(latencies),
        "rows_acked_per_s": round(rows / (t1 - t0), 1),
        "ack_p50_ms": round1(percentile(latencies, 50)),
        "ack_p99_ms": round1(percentile(latencies, 99)),
        "ack_max_ms": round1(max(latencies) if latencies else None),
        "failed_batches": len(failures),
        "failure_kinds": sorted(set(failures))[:3],
    }


async def measure_client(n: int, live_cap: int, recording: list[dict[str, Any]], window_s: float,
                         warmup_s: float) -> dict[str, Any]:  # fmt: skip
    """Start a pod, bring N browsers into the game, measure one window, stop everything."""
    pod = Pod(experiment("client"))
    stop = asyncio.Event()
    browsers: list[Browser] = []
    tasks: list[asyncio.Task[None]] = []
    gate = asyncio.Semaphore(CONNECTS_AT_ONCE)
    try:
        for i in range(n):
            bot = ParticipantBot("", seed=i)
            bot.pod_url, bot.token = f"{pod.url}/", token(i)
            browsers.append(Browser(i, bot, live=i < live_cap))

        def on_play_for(browser: Browser) -> Any:
            async def on_play(message: dict[str, Any]) -> None:
                if browser.game is not None:
                    return
                browser.game = message["game"]
                if browser.live:
                    browser.solo = Solo(sim_config(message))
                    browser.solo.start(time.time() * 1000)
                else:
                    browser.replay = Replay(recording, time.time() * 1000)
                browser.playing.set()
                tasks.append(asyncio.get_running_loop().create_task(send_loop(browser, stop)))

            return on_play

        async def connect(browser: Browser) -> None:
            browser.bot.sio.on(Event.PLAY, on_play_for(browser))
            async with gate:
                try:
                    await asyncio.wait_for(browser.bot.connect(), 20)
                except Exception as exc:
                    browser.error = f"connect: {exc!r}"[:200]

        ramp0 = time.perf_counter()
        tasks.append(asyncio.get_running_loop().create_task(tick_loop(browsers, stop)))
        await asyncio.gather(*(connect(b) for b in browsers))
        waits = [asyncio.wait_for(b.playing.wait(), 20) for b in browsers if b.error is None]
        await asyncio.gather(*waits, return_exceptions=True)
        never_played = sum(1 for b in browsers if not b.playing.is_set())
        ramp_s = time.perf_counter() - ramp0
        await asyncio.sleep(warmup_s)
        window = await cpu_window(pod.pid, window_s)
        load = pod.load()
        await asyncio.sleep(1.5)  # let batches sent at the window's end be answered
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(_close(b.bot) for b in browsers))
        await asyncio.to_thread(pod.stop)
    try:
        stored = pod.stored_rows()
    finally:
        pod.cleanup()
    pod_cpu, loadgen_cpu, rss = window.server_cpu_pct, window.loadgen_cpu_pct, window.server_rss
    acked_total = sum(n for b in browsers for _, _, n in b.acks)
    stats = window_stats(browsers, window.t0, window.t1)
    errors = sorted({b.error for b in browsers if b.error})[:3] + list(load.get("errors") or [])[:3]
    row = {
        "mode": "client",
        "n": n,
        "live_sims": sum(1 for b in browsers if b.solo is not None),
        "replayed": sum(1 for b in browsers if b.replay is not None),
        "ramp_s": round(ramp_s, 1),
        "pod_cpu_pct": round(pod_cpu, 1),
        "pod_cpu_pct_per_participant": round(pod_cpu / n, 3),
        "pod_rss_mb": round(rss / 2**20, 1),
        "rows_per_s_expected": n * FPS,
        **stats,
        "rows_acked_total": acked_total,
        "rows_stored_total": stored.get("steps", 0),
        "episodes_stored": stored.get("episodes", 0),
        "pod_participants": load.get("participants"),
        "pod_games": load.get("games"),
        "never_played": never_played,
        "errors": errors,
        "loadgen_cpu_pct": round(loadgen_cpu, 1),
        "loadgen_saturated": loadgen_cpu > 90,
    }
    p99 = row["ack_p99_ms"]
    row["passed"] = bool(
        not never_played and not row["failed_batches"] and not errors and p99 is not None
        and p99 < MAX_P99_ACK_S * 1000
    )  # fmt: skip
    return row


async def _close(bot: ParticipantBot) -> None:
    try:
        await asyncio.wait_for(bot.disconnect(), 5)
    except Exception:
        pass


async def measure_server(n: int, window_s: float, warmup_s: float) -> dict[str, Any]:
    """The same game in `server` mode: capacity.py's measurement (loadgen GymkubeClients, one key per frame)."""
    pod = Pod(experiment("server"))
    try:
        row = await measure_on("gymkube", pod, n, window_s, warmup_s, key="ArrowUp")
    finally:
        await asyncio.to_thread(pod.stop)
        pod.cleanup()
    return {
        "mode": "server",
        "game": "pong",
        "n": n,
        "pod_cpu_pct": row["server_cpu_pct"],
        "pod_cpu_pct_per_participant": round(row["server_cpu_pct"] / n, 3),
        "pod_rss_mb": row["server_rss_mb"],
        "slowest_fps": row["slowest_fps"],
        "median_fps": row["median_fps"],
        "input_latency_p50_ms": row["latency_p50_ms"],
        "input_latency_p99_ms": row["latency_p99_ms"],
        "never_started": row["never_started"],
        "errors": row["errors"],
        "loadgen_cpu_pct": row["loadgen_cpu_pct"],
        "loadgen_saturated": row["loadgen_saturated"],
    }


def cartpole_server_rows() -> dict[str, Any]:
    """Server-mode pod CPU per N for CartPole from the capacity benchmark's newest results, if recorded."""
    if not SERVER_RESULTS.exists():
        return {"source": None, "note": f"{SERVER_RESULTS.name} not found", "steps": []}
    data = json.loads(SERVER_RESULTS.read_text())
    steps = ((data.get("capacity") or {}).get("gymkube") or {}).get("steps") or []
    rows = [
        {"n": s["n"], "pod_cpu_pct": s.get("server_cpu_pct"), "passed": s.get("passed"),
         "pod_cpu_pct_per_participant": round(s["server_cpu_pct"] / s["n"], 3) if s.get("server_cpu_pct") else None}
        for s in steps
    ]  # fmt: skip
    return {"source": f"benchmarks/results/{SERVER_RESULTS.name} capacity.gymkube.steps", "game": "CartPole-v1",
            "machine": data.get("machine"), "steps": rows}  # fmt: skip


def machine() -> dict[str, Any]:
    """The facts docs/benchmarks.md quotes."""
    model = ""
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        model = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "")
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "pod_pinned_core": POD_CORE if shutil.which("taskset") else None,
        "loadgen_core": 1 if (os.cpu_count() or 1) > 1 else None,
    }


def table(result: dict[str, Any]) -> str:
    """The markdown table of a run."""
    lines = [
        "| mode | N | live / replayed sims | pod CPU % | CPU % per participant | pod RSS MB | rows/s acked (expected) "
        "| rows stored (acked) | ack p50 / p99 ms | failed batches | errors | loadgen CPU % |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["client"]:
        lines.append(
            f"| client | {r['n']} | {r['live_sims']} / {r['replayed']} | {r['pod_cpu_pct']} | "
            f"{r['pod_cpu_pct_per_participant']} | {r['pod_rss_mb']} | {r['rows_acked_per_s']} "
            f"({r['rows_per_s_expected']}) | {r['rows_stored_total']} ({r['rows_acked_total']}) | "
            f"{r['ack_p50_ms']} / {r['ack_p99_ms']} | {r['failed_batches']} | {len(r['errors']) + r['never_played']} | "
            f"{r['loadgen_cpu_pct']} |"
        )
    for r in result["server_pong"]:
        lines.append(
            f"| server (pong) | {r['n']} | - | {r['pod_cpu_pct']} | {r['pod_cpu_pct_per_participant']} | "
            f"{r['pod_rss_mb']} | - | - | input p50 / p99 {r['input_latency_p50_ms']} / {r['input_latency_p99_ms']}, "
            f"slowest {r['slowest_fps']} fps | - | {len(r['errors']) + r['never_started']} | {r['loadgen_cpu_pct']} |"
        )
    for r in result["server_cartpole_quoted"]["steps"]:
        if r["n"] in (16, 32, 64, 128, 160, 200):
            lines.append(
                f"| server (CartPole, quoted) | {r['n']} | - | {r['pod_cpu_pct']} | "
                f"{r['pod_cpu_pct_per_participant']} | - | - | - | - | - | - | - |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", action="store_true", help="a quick smoke run: small N, short windows")
    parser.add_argument("--schedule", help="comma-separated N values for client mode")
    parser.add_argument("--server-schedule", help="comma-separated N values for server mode (empty: skip)")
    parser.add_argument("--no-write", action="store_true", help="print only; do not write the results file")
    args = parser.parse_args()
    started = time.monotonic()
    pin_loadgen()
    schedule = [int(n) for n in args.schedule.split(",")] if args.schedule else (
        SHORT_SCHEDULE if args.short else SCHEDULE)  # fmt: skip
    if args.server_schedule is not None:
        server_schedule = [int(n) for n in args.server_schedule.split(",") if n]
    else:
        server_schedule = [20] if args.short else SERVER_SCHEDULE
    window, warmup = (5.0, 2.0) if args.short else (15.0, 3.0)

    probe = experiment("client")["spec"]["scenes"][0]
    from gymkube.game_pod.remote import sim_config as pod_sim_config
    from gymkube.spec.gym import GymScene

    config = json.dumps(pod_sim_config(GymScene.model_validate(probe), "probe", 11, 1, 0, False)
                        | {"searchDir": str(BUNDLE)})  # fmt: skip
    cost = tick_cost_s(config)
    live_cap = int(LIVE_SIM_SHARE / (cost * FPS))
    recording = record_entries(config)
    print(f"[browser] Solo tick {cost * 1e6:.0f} us of CPU here: up to {live_cap} live games "
          f"({LIVE_SIM_SHARE:.0%} of the load generator's core), the rest replay {len(recording)} recorded entries",
          flush=True)  # fmt: skip

    client_rows: list[dict[str, Any]] = []
    for n in schedule:
        if time.monotonic() - started > BUDGET_S:
            print(f"[browser] time budget reached before N={n}", flush=True)
            break
        row = asyncio.run(measure_client(n, live_cap, recording, window, warmup))
        client_rows.append(row)
        print(f"[browser] {json.dumps(row)}", flush=True)
        if not row["passed"]:
            break
    server_rows: list[dict[str, Any]] = []
    for n in server_schedule:
        if time.monotonic() - started > BUDGET_S + 60:
            print(f"[browser] time budget reached before server N={n}", flush=True)
            break
        srow = asyncio.run(measure_server(n, window, warmup))
        server_rows.append(srow)
        print(f"[browser] {json.dumps(srow)}", flush=True)

    passed = [r["n"] for r in client_rows if r["passed"]]
    result = {
        "date": DATE,
        "short": args.short,
        "game": "examples/pong_client.yaml (gym + end scenes, countdownS 0, episodes 1000)",
        "machine": machine(),
        "method": {
            "window_s": window,
            "warmup_s": warmup,
            "fps": FPS,
            "send_every_s": SEND_EVERY_S,
            "solo_tick_us": round(cost * 1e6, 1),
            "live_sim_cap": live_cap,
            "live_sim_share_of_loadgen_core": LIVE_SIM_SHARE,
            "replay_entries": len(recording),
            "criterion": f"no failed or refused batch, no errors, every participant playing, "
            f"p99 records ack < {MAX_P99_ACK_S * 1000:.0f} ms",
            "server_mode_client": "benchmarks/loadgen.py GymkubeClient, one `input` per received frame",
        },
        "headline": max(passed) if passed else 0,
        "client": client_rows,
        "server_pong": server_rows,
        "server_cartpole_quoted": cartpole_server_rows(),
        "elapsed_s": round(time.monotonic() - started, 1),
    }
    if not args.no_write:
        OUT.write_text(json.dumps(result, indent=2) + "\n")
        print(f"[browser] wrote {OUT.relative_to(ROOT)}", flush=True)
    print(table(result))
    print(f"elapsed {result['elapsed_s']} s")


if __name__ == "__main__":
    main()
