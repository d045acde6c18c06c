"""Benchmark: input-to-display latency of `p2p` versus `server` mode at 0, 50 and 100 ms of added round trip.

Run: `make bench-p2p` (about 4 minutes). The same game in both modes: examples/pong (30 fps, two human
players), one episode with misses never ending it. For each mode and added round trip two headless
Chromium pages (one browser process, two contexts) join as two participants, and each presses the arrow
keys in turn (held HOLD_MS, then GAP_MS idle). An init script in every page records each keydown
(capturing listener, `performance.timeOrigin + performance.now()`) and, after every animation-frame callback
(the renderer paints in one), reads one pixel column through each paddle of the `#game` canvas and logs when
a paddle's drawn position changes. Measured per press:

- own: keydown until this page's canvas first shows its own paddle moved half a cell in the pressed direction;
- partner: the same keydown until the *other* page's canvas shows that paddle moved (both pages' clocks are
  `timeOrigin + now()` of one machine; their offset is measured and reported).

Added round trip: `p2p` sets `gymkubeDebug.sendDelayMs = RTT/2` on both pages (every peer packet is held that
long before it is sent, so the peers' round trip grows by RTT). `server` puts an asyncio TCP proxy on
127.0.0.1 in front of the game pod that holds every chunk RTT/2 in each direction (in order), and the pages
load the pod through it (at 0 ms too, so the path is the same); its byte and websocket counts are reported.

Writes benchmarks/results/p2p-latency-<date of the run>.json and prints a markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import platform as pyplatform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]

from browser import chromium  # noqa: E402  (tests/e2e: Debian chromium through Playwright)
from conftest import Platform, quick_manifest  # noqa: E402  (tests: the embedded platform in a subprocess)
from machine import describe, run_date  # noqa: E402  (benchmarks/: what the run was on, and when)

EXPERIMENT = "pong-p2p"
RESULTS = ROOT / "benchmarks" / "results"
RTTS_MS = (0, 50, 100)
MODES = ("p2p", "server")
FPS = 30
PRESSES = 20  # per page and run
HOLD_MS = 300
GAP_MS = 300
SETTLE_MS = 1500  # after both pages show "playing", before the first press
END_MARGIN_S = 4.0  # the episode lasts this long past the last press's window (page start-up skew included)
MOVE_CELLS = 0.5  # a drawn move of at least half a cell (one step moves a paddle one cell)
WINDOW_MS = 1500.0  # a press whose move is not seen within this is counted as missed
STILL_MS = 100.0  # a press with the paddle still moving this shortly before it is left out
LOOPBACK = "--allow-loopback-in-peer-connection"  # else Chromium offers no WebRTC candidate on 127.0.0.1
KEYS = {"ArrowUp": -1, "ArrowDown": 1}  # the pressed direction in canvas y

# In every page before its own scripts: the keydown clock and a paddle reader run after each animation frame.
PROBE = """(() => {
  const COLORS = { left: [88, 166, 255], right: [247, 120, 186] };  // pong_env's paddle colours
  const CELLS_X = 48, CELLS_Y = 32, MAX_LOG = 20000;
  const probe = { keys: [], log: [], pos: { left: null, right: null }, samples: 0, errors: 0 };
  window.__latency = probe;
  const now = () => performance.timeOrigin + performance.now();
  window.addEventListener("keydown", (e) => {
    if (!e.repeat && probe.keys.length < 1000) probe.keys.push({ t: now(), key: e.key });
  }, { capture: true });
  function centre(ctx, x, h, rgb) {  // the paddle's centre in cells, from one pixel column; null when not drawn
    const d = ctx.getImageData(x, 0, 1, h).data;
    let top = -1, bottom = -1;
    for (let y = 0; y < h; y++) {
      const i = 4 * y;
      if (Math.abs(d[i] - rgb[0]) + Math.abs(d[i + 1] - rgb[1]) + Math.abs(d[i + 2] - rgb[2]) < 60) {
        if (top < 0) top = y;
        bottom = y;
      }
    }
    return top < 0 ? null : ((top + bottom + 1) / 2 / h) * CELLS_Y;
  }
  function sample() {
    const canvas = document.getElementById("game");
    if (!canvas || !canvas.width || !canvas.height) return;
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height;
    const left = centre(ctx, Math.floor((w * 0.5) / CELLS_X), h, COLORS.left);
    const right = centre(ctx, Math.floor((w * (CELLS_X - 0.5)) / CELLS_X), h, COLORS.right);
    probe.samples += 1;
    if (left === probe.pos.left && right === probe.pos.right) return;
    probe.pos = { left, right };
    if (probe.log.length < MAX_LOG) probe.log.push([now(), left, right]);
  }
  const raf = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = (cb) => raf((ts) => {
    try { cb(ts); } finally { try { sample(); } catch { probe.errors += 1; } }
  });
})();"""

CLOCK = """() => {  // Date.now() minus this page's timeOrigin + now(), median of 200 reads
  const d = [];
  for (let i = 0; i < 200; i++) d.push(Date.now() - (performance.timeOrigin + performance.now()));
  d.sort((a, b) => a - b);
  return d[100];
}"""

FRAME = "() => [performance.timeOrigin + performance.now(), gymkubeDebug.game?.game?.frame ?? null]"

P2P_SUMMARY = """() => {
  const g = gymkubeDebug.game;
  if (!g?.game) return null;
  const s = g.game.summary();
  const out = s.toJs({ dict_converter: Object.fromEntries });
  s.destroy();
  return out;
}"""


class DelayProxy:
    """A TCP proxy on 127.0.0.1 that holds every chunk `delay_ms` in each direction, keeping their order."""

    def __init__(self, target_port: int, delay_ms: float) -> None:
        self.target_port = target_port
        self.delay_s = delay_ms / 1000
        self.port = 0
        self.stats: dict[str, Any] = {"connections": 0, "bytes_up": 0, "bytes_down": 0, "websockets": 0,
                                      "socketio_websocket_bytes": 0}  # fmt: skip
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="delay-proxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> DelayProxy:
        """Listen on a free port (self.port)."""
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._accept, "127.0.0.1", 0), self._loop
        ).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        """Close the listener and every connection; end the thread."""

        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    async def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.stats["connections"] += 1
        pod_w: asyncio.StreamWriter | None = None
        try:
            pod_r, pod_w = await asyncio.open_connection("127.0.0.1", self.target_port)
            conn: dict[str, bool] = {"ws": False}
            await asyncio.gather(self._pump(client_r, pod_w, "up", conn), self._pump(pod_r, client_w, "down", conn))
        except (OSError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # a closed connection, or the proxy stopping
        finally:
            for writer in (client_w, pod_w):
                if writer is not None:
                    writer.close()
            self._tasks.discard(task)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, direction: str, conn: dict[str, bool]
    ) -> None:
        """Copy reader to writer, each chunk sent delay_s after it was read (a queue keeps the order)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def send() -> None:
            while True:
                due, data = await queue.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    if writer.can_write_eof():
                        with contextlib.suppress(OSError):
                            writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(send())
        first = True
        try:
            while True:
                data = await reader.read(65536)
                if first and direction == "up" and data:
                    head = data.split(b"\r\n", 1)[0]
                    if b"/socket.io/" in head and b"transport=websocket" in head:
                        conn["ws"] = True
                        self.stats["websockets"] += 1
                first = False
                self.stats[f"bytes_{direction}"] += len(data)
                if conn["ws"]:
                    self.stats["socketio_websocket_bytes"] += len(data)
                queue.put_nowait((loop.time() + self.delay_s, data))
                if not data:
                    break
            await sender
        finally:
            sender.cancel()


def pod_url(platform: Platform, who: str) -> str:
    """The game pod address the entry redirects this participant to (with their token)."""
    response = httpx.get(platform.entry(EXPERIMENT, PROLIFIC_PID=who), follow_redirects=False, timeout=10)
    if response.status_code != 303:
        raise RuntimeError(f"entry answered {response.status_code}: {response.text[:300]}")
    return response.headers["location"]


def with_port(url: str, port: int) -> str:
    """`url` with its port replaced (the host stays 127.0.0.1)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.hostname}:{port}"))


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..1) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summary(values: list[float], missed: int, moving: int) -> dict[str, Any]:
    """Median, p90, min, max and count of latencies in ms."""
    return {
        "median_ms": round(statistics.median(values), 1) if values else None,
        "p90_ms": round(p, 1) if (p := percentile(values, 0.9)) is not None else None,
        "min_ms": round(min(values), 1) if values else None,
        "max_ms": round(max(values), 1) if values else None,
        "count": len(values),
        "missed": missed,
        "left_out_moving": moving,
    }


def first_move(log: list[list[Any]], agent: str, t_key: float, direction: int) -> tuple[float | None, bool]:
    """(ms from t_key until `agent`'s paddle is drawn moved in `direction`, or None; whether it moved just before)."""
    column = 1 if agent == "left" else 2
    base = None
    moving = False
    for entry in log:
        t, pos = entry[0], entry[column]
        if t <= t_key:
            if base is not None and pos != base and t > t_key - STILL_MS:
                moving = True
            base = pos
            continue
        if base is None or pos is None:
            continue
        if t - t_key > WINDOW_MS:
            break
        if (pos - base) * direction >= MOVE_CELLS:
            return t - t_key, moving
    return None, moving


def frame_lead(samples: dict[str, list[Any]]) -> float | None:
    """Frames the `left` peer is ahead of `right` at one moment (left's frame extrapolated to right's read time)."""
    (t_left, f_left), (t_right, f_right) = samples["left"], samples["right"]
    if f_left is None or f_right is None:
        return None
    return round(f_left + (t_right - t_left) * FPS / 1000 - f_right, 1)


def play_pair(
    platform: Platform, browser: Any, mode: str, rtt_ms: int, tag: str, presses: int = PRESSES
) -> dict[str, Any]:
    """Two participants play one episode; presses in turn; latencies read from both pages' logs."""
    names = [f"{tag}-a", f"{tag}-b"]
    urls = {who: pod_url(platform, who) for who in names}
    proxy = None
    if mode == "server":
        proxy = DelayProxy(urlsplit(urls[names[0]]).port or 80, rtt_ms / 2).start()
        urls = {who: with_port(url, proxy.port) for who, url in urls.items()}
    contexts = []
    errors: list[str] = []
    pages: dict[str, Any] = {}
    leads: list[float | None] = []
    try:
        for who in names:
            context = browser.new_context(viewport={"width": 900, "height": 700})
            contexts.append(context)
            context.grant_permissions(["microphone"])  # with LOOPBACK: loopback candidates are offered
            context.add_init_script(PROBE)
            page = context.new_page()
            page.on("pageerror", lambda exc, who=who: errors.append(f"{who}: {exc}"))
            page.goto(urls[who], timeout=30_000)
            if mode == "p2p":
                page.evaluate(f"gymkubeDebug.sendDelayMs = {rtt_ms / 2}")
            page.wait_for_selector("#scene[data-scene-id='instructions']", timeout=30_000)
            page.click("#continue", timeout=10_000)
            pages[who] = page
        started = time.monotonic()
        for page in pages.values():
            page.wait_for_selector("#scene[data-game-status='playing']", timeout=90_000)
        to_playing_s = time.monotonic() - started
        agents = {}
        for who, page in pages.items():
            agent = page.evaluate("gymkubeDebug.game?.agent ?? null") if mode == "p2p" else None
            agents[who] = agent or page.get_attribute("#role", "data-agent", timeout=10_000)
        if sorted(agents.values()) != ["left", "right"]:
            raise RuntimeError(f"unexpected seats: {agents}")
        pages[names[0]].wait_for_timeout(SETTLE_MS)
        for turn in range(presses):
            if mode == "p2p" and turn % 5 == 0:
                leads.append(frame_lead({agents[who]: page.evaluate(FRAME) for who, page in pages.items()}))
            for who, page in pages.items():
                centre = page.evaluate(f"window.__latency.pos.{agents[who]}")
                key = "ArrowUp" if centre is None or centre >= 16 else "ArrowDown"  # stay clear of the walls
                page.keyboard.down(key)
                page.wait_for_timeout(HOLD_MS)
                page.keyboard.up(key)
                page.wait_for_timeout(GAP_MS)
        pages[names[0]].wait_for_timeout(WINDOW_MS)
        probes = {who: page.evaluate("window.__latency") for who, page in pages.items()}
        clocks = {who: page.evaluate(CLOCK) for who, page in pages.items()}
        peers = {who: page.evaluate(P2P_SUMMARY) for who, page in pages.items()} if mode == "p2p" else {}
        ended = True
        for page in pages.values():
            try:
                page.wait_for_selector("#completion-code", timeout=60_000)
            except Exception:  # noqa: BLE001 - a game that does not end is reported, not fatal
                ended = False
    finally:
        for context in contexts:
            with contextlib.suppress(Exception):
                context.close()
        if proxy is not None:
            proxy.stop()
    views: dict[str, dict[str, list[float]]] = {kind: {"left": [], "right": []} for kind in ("own", "partner")}
    missed = {kind: {"left": 0, "right": 0} for kind in ("own", "partner")}
    moving = {kind: {"left": 0, "right": 0} for kind in ("own", "partner")}
    for who in names:
        other = names[1] if who == names[0] else names[0]
        agent = agents[who]
        for press in probes[who]["keys"]:
            if press["key"] not in KEYS:
                continue
            for kind, page_log in (("own", probes[who]["log"]), ("partner", probes[other]["log"])):
                latency, was_moving = first_move(page_log, agent, press["t"], KEYS[press["key"]])
                if was_moving:
                    moving[kind][agent] += 1
                elif latency is None:
                    missed[kind][agent] += 1
                else:
                    views[kind][agent].append(latency)

    def pooled(kind: str) -> dict[str, Any]:
        values = views[kind]["left"] + views[kind]["right"]
        return summary(values, sum(missed[kind].values()), sum(moving[kind].values()))

    result: dict[str, Any] = {
        "mode": mode,
        "added_rtt_ms": rtt_ms,
        "own": pooled("own"),
        "partner": pooled("partner"),
        "by_presser": {
            agent: {kind: summary(views[kind][agent], missed[kind][agent], moving[kind][agent]) for kind in views}
            for agent in ("left", "right")
        },
        "own_ms": {agent: [round(v, 1) for v in views["own"][agent]] for agent in ("left", "right")},
        "partner_ms": {agent: [round(v, 1) for v in views["partner"][agent]] for agent in ("left", "right")},
        "seats": agents,
        "seconds_to_playing": round(to_playing_s, 1),
        "paddle_samples": {agents[who]: probes[who]["samples"] for who in names},
        "probe_errors": sum(probes[who]["errors"] for who in names),
        "page_clock_offset_ms": round(abs(clocks[names[0]] - clocks[names[1]]), 3),
        "game_ended": ended,
        "page_errors": errors,
    }
    if proxy is not None:
        result["proxy"] = proxy.stats | {"delay_each_way_ms": rtt_ms / 2}
    if peers:
        keep = ("rollbacks", "max_rollback", "resimulated", "stalls", "desyncs", "transport", "rtt_ms_median",
                "rtt_ms_p95", "input_delay")  # fmt: skip
        result["peers"] = {agents[who]: {k: (s or {}).get(k) for k in keep} for who, s in peers.items()}
        result["left_frame_lead"] = leads
    return result


def make_manifest(folder: Path, mode: str, presses: int) -> Path:
    """examples/pong_p2p.yaml in `mode`: one episode long enough for the presses, which misses never end."""
    seconds = SETTLE_MS / 1000 + presses * 2 * (HOLD_MS + GAP_MS) / 1000 + WINDOW_MS / 1000 + END_MARGIN_S
    environment = {"entryPoint": "pong_env:make_env", "kwargs": {"max_misses": 1_000_000}}
    overrides: dict[str, Any] = {"mode": mode, "episodes": 1, "maxSteps": math.ceil(seconds * FPS), "countdownS": 1,
                                 "fps": FPS, "environment": environment}  # fmt: skip
    return quick_manifest(folder, "pong_p2p.yaml", **overrides)


def machine() -> dict[str, Any]:
    """What this ran on (benchmarks/machine.py), with the browser."""
    browser = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["chromium", "--version"], capture_output=True, text=True, timeout=30).stdout
        browser = out.strip().splitlines()[0] if out.strip() else ""
    return describe() | {"kernel": pyplatform.release(), "chromium": browser, "playwright": version("playwright")}


def fmt(stats: dict[str, Any]) -> str:
    """`median / p90 (n)` of a summary."""
    if not stats["count"]:
        return f"- (0 of {stats['missed']})"
    return f"{stats['median_ms']:.0f} / {stats['p90_ms']:.0f} ({stats['count']})"


def notes(run: dict[str, Any]) -> str:
    """What else a row should say: the peers' round trip, rollbacks and frame lead, or the proxy's traffic."""
    out = []
    if run.get("peers"):
        peers = run["peers"].values()
        rtts = [p["rtt_ms_median"] for p in peers if p.get("rtt_ms_median") is not None]
        if rtts:
            out.append(f"peer RTT {statistics.median(rtts):.0f} ms")
        out.append("rollbacks " + " / ".join(str(run["peers"].get(a, {}).get("rollbacks")) for a in ("left", "right")))
        out.append(f"max depth {max(p.get('max_rollback') or 0 for p in peers)}")
        leads = [v for v in run.get("left_frame_lead", []) if v is not None]
        if leads:
            out.append(f"left ahead by {statistics.median(leads):.1f} frames")
        out.append("via " + "/".join(sorted({v for p in peers for v in (p.get("transport") or {}).values()})))
    if run.get("proxy"):
        proxy = run["proxy"]
        kb = (proxy["bytes_up"] + proxy["bytes_down"]) / 1e3
        out.append(f"via proxy: {proxy['websockets']} socket.io websockets, {kb:.0f} kB")
    missed = run["own"]["missed"] + run["partner"]["missed"]
    if missed:
        out.append(f"{missed} moves not seen within {WINDOW_MS / 1000:.1f} s")
    if not run["game_ended"]:
        out.append("game did not end")
    if run["page_errors"]:
        out.append(f"{len(run['page_errors'])} page errors")
    return ", ".join(out)


def table(runs: list[dict[str, Any]]) -> str:
    """The results as a markdown table."""
    lines = [
        "| mode | added RTT ms | own key to own screen: median / p90 ms (n) | own key to partner's screen: "
        "median / p90 ms (n) | partner's screen by presser: left / right median ms | notes |",
        "|---|---|---|---|---|---|",
    ]
    for run in runs:
        by = run["by_presser"]
        split = " / ".join(
            f"{by[a]['partner']['median_ms']:.0f}" if by[a]["partner"]["count"] else "-" for a in ("left", "right")
        )
        cells = [run["mode"], str(run["added_rtt_ms"]), fmt(run["own"]), fmt(run["partner"]), split, notes(run)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    """Run every (mode, added RTT) once; write the JSON; print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rtts", default=",".join(map(str, RTTS_MS)), help="added round trips in ms")
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--presses", type=int, default=PRESSES, help="per page and run")
    parser.add_argument("--out", type=Path, help="default: benchmarks/results/p2p-latency-<date>.json")
    args = parser.parse_args()
    started_at, day = run_date()
    args.out = args.out or RESULTS / f"p2p-latency-{day}.json"
    rtts = [int(v) for v in args.rtts.split(",") if v]
    modes = [m for m in args.modes.split(",") if m]
    began = time.monotonic()
    runs: list[dict[str, Any]] = []
    tmp = Path(tempfile.mkdtemp(prefix="gymkube-p2p-latency-"))
    try:
        with chromium(LOOPBACK) as browser:
            for mode in modes:
                folder = tmp / mode
                folder.mkdir()
                platform = Platform([make_manifest(folder, mode, args.presses)], folder / "data")
                try:
                    for rtt in rtts:
                        t0 = time.monotonic()
                        run = play_pair(platform, browser, mode, rtt, f"{mode}{rtt}", args.presses)
                        run["seconds"] = round(time.monotonic() - t0, 1)
                        runs.append(run)
                        print(f"{mode} +{rtt} ms: own {fmt(run['own'])}, partner {fmt(run['partner'])}; {notes(run)} "
                              f"({run['seconds']} s)", flush=True)  # fmt: skip
                finally:
                    platform.stop()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "benchmark": "p2p_latency",
        "date": started_at,
        "game": {
            "example": "examples/pong_p2p.yaml (pong_env, max_misses raised so only maxSteps ends the episode)",
            "fps": FPS,
            "players": "two humans (two Chromium pages of one browser)",
            "p2p": {"inputDelay": 2, "maxPrediction": 8},
        },
        "method": {
            "presses_per_page": args.presses,
            "hold_ms": HOLD_MS,
            "gap_ms": GAP_MS,
            "move_cells": MOVE_CELLS,
            "window_ms": WINDOW_MS,
            "still_ms": STILL_MS,
            "display": "canvas painted: a pixel column through each paddle read after every animation-frame callback",
            "p2p_delay": "gymkubeDebug.sendDelayMs = RTT/2 on both pages",
            "server_delay": "TCP proxy on 127.0.0.1 holding every chunk RTT/2 each way (also at 0 ms)",
        },
        "machine": machine(),
        "duration_s": round(time.monotonic() - began, 1),
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print()
    print(table(runs))
    shown = args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out
    print(f"\nwrote {shown} in {result['duration_s']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
