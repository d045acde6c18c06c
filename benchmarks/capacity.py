"""Benchmark: concurrent 30-fps CartPole sessions per server process, gymkube vs interactive-gym 0.1.1 vs MUG 0.1.3.

Run: `make bench` (everything) or `python benchmarks/capacity.py [--short] [--systems a,b]`.
Each system's server runs pinned to core 0 (`taskset -c 0`), this load generator on core 1
(`os.sched_setaffinity`). For each N of a step-up schedule a fresh server is started, N
participants connect and play, and after a warm-up one window is measured; a system stops at
its first N that fails the criterion: every session at >= 90% of 30 fps and p99
input-to-state latency < 50 ms. Results are returned as a dict (see `run_system`).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import psutil
from loadgen import Client, GymkubeClient, InteractiveGymClient, MugClient, Participant
from systems import Server

FPS = 30
MIN_FPS = 0.9 * FPS
MAX_P99_MS = 50.0
LOADGEN_CORE = 1
SCHEDULE = [1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 160, 200, 256, 300, 320, 400]
SHORT_SCHEDULE = [1, 4, 16, 64]
SYSTEMS = ["gymkube", "interactive-gym", "mug"]
CONNECTS_AT_ONCE = 16


def percentile(values: list[float], q: float) -> float | None:
    """The q-th percentile (0..100) by nearest rank, or None without values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


class Served(Protocol):
    """What the load generator needs of a running server: its address, process, tokens, and a way to stop it."""

    base_url: str

    @property
    def pid(self) -> int: ...

    def token(self, index: int) -> str: ...

    def stop(self) -> None: ...


@dataclass
class Window:
    """One measurement window: its bounds (perf_counter), the CPU used in it, and the server's memory after it."""

    t0: float
    t1: float
    server_cpu_pct: float
    loadgen_cpu_pct: float
    server_rss: int


async def cpu_window(pid: int, window_s: float) -> Window:
    """Wait out one window; the server's and this load generator's CPU (% of one core) over it."""
    server, me = psutil.Process(pid), psutil.Process()
    cpu0, mine0, t0 = server.cpu_times(), me.cpu_times(), time.perf_counter()
    await asyncio.sleep(window_s)
    cpu1, mine1, t1 = server.cpu_times(), me.cpu_times(), time.perf_counter()
    span = t1 - t0
    return Window(
        t0,
        t1,
        (cpu1.user + cpu1.system - cpu0.user - cpu0.system) / span * 100,
        (mine1.user + mine1.system - mine0.user - mine0.system) / span * 100,
        server.memory_info().rss,
    )


def make_client(system: str, server: Served, participant: Participant) -> Client:
    if system == "gymkube":
        return GymkubeClient(server.base_url, participant, server.token(participant.index))
    if system == "interactive-gym":
        return InteractiveGymClient(server.base_url, participant)
    return MugClient(server.base_url, participant)


async def measure(system: str, n: int, window_s: float, warmup_s: float) -> dict[str, Any]:
    """Start a server, play N sessions, measure one window, stop everything."""
    return await measure_on(system, Server(system), n, window_s, warmup_s)


async def measure_on(
    system: str,
    server: Served,
    n: int,
    window_s: float,
    warmup_s: float,
    key: str = "ArrowLeft",
    min_fps: float = MIN_FPS,
) -> dict[str, Any]:
    """Play N sessions on a running server (`key`: the first key each presses), measure one window, stop it.

    A row passes when every session kept `min_fps` and the p99 latency stayed under MAX_P99_MS.
    """
    participants = [Participant(i, key=key) for i in range(n)]
    clients = [make_client(system, server, p) for p in participants]
    gate = asyncio.Semaphore(CONNECTS_AT_ONCE)

    async def start(client: Client) -> None:
        async with gate:
            try:
                await asyncio.wait_for(client.start(http), 20)
            except Exception as exc:
                client.p.error = repr(exc)[:200]

    try:
        async with httpx.AsyncClient(timeout=20) as http:
            await asyncio.gather(*(start(c) for c in clients))
        waits = [asyncio.wait_for(p.started.wait(), 15 + n * 0.05) for p in participants if p.error is None]
        results = await asyncio.gather(*waits, return_exceptions=True)
        never_started = sum(1 for r in results if isinstance(r, Exception)) + sum(1 for p in participants if p.error)
        # The load generator's own garbage collector would pause every client at once (about 35 ms every
        # 2-3 s at 300 sessions, seen as late frames of every system): its heap is frozen once everyone
        # plays and it does not collect during the window.
        gc.collect()
        gc.freeze()
        gc.disable()
        await asyncio.sleep(warmup_s)
        window = await cpu_window(server.pid, window_s)
    finally:
        gc.enable()
        gc.unfreeze()
        await asyncio.gather(*(c.close() for c in clients))
        server.stop()
    t0, t1 = window.t0, window.t1
    span = t1 - t0
    server_cpu, loadgen_cpu, rss = window.server_cpu_pct, window.loadgen_cpu_pct, window.server_rss
    fps = [sum(1 for t in p.frames if t0 <= t < t1) / span for p in participants]
    gaps = [
        (b - a) * 1000 for p in participants for a, b in zip(p.frames, p.frames[1:], strict=False) if t0 <= a and b < t1
    ]
    latencies = [lat * 1000 for p in participants for sent, lat in p.latencies if t0 <= sent < t1]
    unanswered = sum(1 for p in participants for sent in p.unacked.values() if t0 <= sent < t1 - 0.2)
    sent_in_window = len(latencies) + unanswered
    sizes = [s for p in participants for s in p.sizes]
    messages = [sum(1 for t in p.messages if t0 <= t < t1) / span for p in participants]
    p99 = percentile(latencies, 99)
    frames_in_window = sum(1 for p in participants for t in p.frames if t0 <= t < t1)
    row = {
        "system": system,
        "n": n,
        "slowest_fps": round(min(fps), 2),
        "median_fps": round(statistics.median(fps), 2),
        "gap_p50_ms": round1(percentile(gaps, 50)),
        "gap_p99_ms": round1(percentile(gaps, 99)),
        "latency_p50_ms": round1(percentile(latencies, 50)),
        "latency_p99_ms": round1(p99),
        "inputs_unanswered": unanswered,
        "inputs_sent": sent_in_window,
        "server_cpu_pct": round(server_cpu, 1),
        # CPU per frame delivered: less sensitive than the percentages to other load on a shared machine
        "server_cpu_us_per_frame": round(server_cpu / 100 * span / frames_in_window * 1e6, 1)
        if frames_in_window
        else None,
        "server_rss_mb": round(rss / 2**20, 1),
        "bytes_per_frame": round(statistics.mean(sizes)) if sizes else None,
        "bytes_per_frame_median": round(statistics.median(sizes)) if sizes else None,
        "messages_per_client_s": round(statistics.mean(messages), 1),
        "loadgen_cpu_pct": round(loadgen_cpu, 1),
        "never_started": never_started,
        "errors": sorted({p.error for p in participants if p.error})[:3],
    }
    row["passed"] = bool(min(fps) >= min_fps and p99 is not None and p99 < MAX_P99_MS and not never_started)
    row["loadgen_saturated"] = loadgen_cpu > 90
    return row


def round1(value: float | None) -> float | None:
    """One decimal, or None."""
    return None if value is None else round(value, 1)


def run_system(
    system: str,
    schedule: list[int],
    window_s: float,
    warmup_s: float,
    budget_s: float,
    on_row: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Step N up until the frame rate fails (or the schedule or time budget ends).

    `headline`: the largest N before the first N failing the whole criterion (fps and latency);
    `fps_headline`: the largest N before the first N at which some session falls below 27 fps,
    whatever the latency (how many a system can hold at all, which shows interactive-gym too).
    `on_row` is told each row as soon as it is measured (bench.py writes it to the results file).
    """
    steps: list[dict[str, Any]] = []
    started = time.monotonic()
    headline = fps_headline = 0
    criterion_failed = False
    for n in schedule:
        if time.monotonic() - started > budget_s:
            print(f"[capacity] {system}: time budget reached before N={n}", flush=True)
            break
        row = asyncio.run(measure(system, n, window_s, warmup_s))
        steps.append(row)
        print(f"[capacity] {json.dumps(row)}", flush=True)
        if on_row is not None:
            on_row(system, row)
        criterion_failed = criterion_failed or not row["passed"]
        if not criterion_failed:
            headline = n
        if row["slowest_fps"] < MIN_FPS or row["never_started"]:
            break
        fps_headline = n
    return {"headline": headline, "fps_headline": fps_headline, "steps": steps}


def pin_loadgen() -> None:
    """Keep the load generator off the server's core."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {LOADGEN_CORE})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", action="store_true", help="a quick smoke run: few N, short windows")
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--schedule", help="comma-separated N values")
    args = parser.parse_args()
    pin_loadgen()
    schedule = (
        [int(n) for n in args.schedule.split(",")] if args.schedule else (SHORT_SCHEDULE if args.short else SCHEDULE)
    )
    window, warmup, budget = (3.0, 1.0, 60.0) if args.short else (10.0, 2.0, 420.0)
    results = {s: run_system(s, schedule, window, warmup, budget) for s in args.systems.split(",")}
    print(json.dumps({s: r["headline"] for s, r in results.items()}))


if __name__ == "__main__":
    main()
