"""`make bench`: capacity of all three systems plus flush/export, written to benchmarks/results/<date>.json and .png.

Run: `python benchmarks/bench.py [--short] [--systems gymkube,mug] [--profile N]`. The peers must
be installed first (`python benchmarks/peers/setup.py`; `make bench` does it). `--short` (or
BENCH_SHORT=1) is a smoke run of about two minutes; the full run takes about ten.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import capacity
import flush
import overcooked
import systems
from machine import describe

RESULTS = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, Any]:
    """What this ran on, and how the cores were split."""
    return describe() | {
        "split": f"server on core {systems.SERVER_CORE} (taskset), load generator on core {capacity.LOADGEN_CORE} "
        "(sched_setaffinity)",
    }


def plot(results: dict[str, Any], path: Path) -> None:
    """N versus slowest-session fps and p99 input-to-state latency, one line per system."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_fps, ax_lat) = plt.subplots(1, 2, figsize=(11, 4.2))
    for system, result in results.items():
        steps = result["steps"]
        ns = [s["n"] for s in steps]
        ax_fps.plot(ns, [s["slowest_fps"] for s in steps], marker="o", label=system)
        ax_lat.plot(ns, [s["latency_p99_ms"] or float("nan") for s in steps], marker="o", label=system)
    ax_fps.axhline(capacity.MIN_FPS, color="grey", linestyle="--", linewidth=1)
    ax_lat.axhline(capacity.MAX_P99_MS, color="grey", linestyle="--", linewidth=1)
    for ax, label in ((ax_fps, "slowest session fps"), (ax_lat, "p99 input-to-state latency (ms)")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent sessions N (one server process)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    ax_lat.set_yscale("log")
    fig.suptitle("CartPole-v1, objects rendering, 30 fps, a key press every frame")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def find_py_spy() -> str | None:
    """The py-spy that `make install` puts beside this Python (a dev dependency), or one on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


WHERE = [
    ("paced garbage collection", ("GcPacer",)),
    ("frames out: encode once, write to each socket (wire.py)", ("Fanout.", "FrameWire", "StatePacket")),
    ("frame building: objects, HUD, observation hash", ("FrameEncoder",)),
    ("game step: env.step, inputs taken, step row", ("Game.tick",)),
    (
        "inputs in: decode, rate limit, validate, apply",
        ("WireWebSocket._received", "WireWebSocket.wait", "_handle_eio_message", "on_input"),
    ),
    ("websocket protocol: uvicorn + websockets parse, ASGI queue", ("websockets_sansio_impl", "websockets/")),
    ("python-socketio / engine.io (other messages, pings)", ("socketio/", "engineio/")),
    ("tick loop itself", ("Ticker._loop",)),
]
"""Buckets of the pod's event-loop samples, first match wins (a sample's whole stack is searched)."""


def where_the_time_goes(lines: list[str]) -> dict[str, Any]:
    """py-spy raw stacks (with --threads) in buckets: each thread's share, and the event loop's time by part."""
    threads: dict[str, int] = {}
    stacks: list[tuple[str, int]] = []
    for line in lines:
        stack, _, count = line.rpartition(" ")
        thread = stack.split(";", 1)[0]
        threads[thread] = threads.get(thread, 0) + int(count)
        stacks.append((stack, int(count)))
    total = sum(threads.values()) or 1
    main = max(threads, key=lambda t: ("MainThread" in t, threads[t])) if threads else ""
    parts: dict[str, int] = {}
    for stack, count in stacks:
        if not stack.startswith(main):
            continue
        name = next((name for name, keys in WHERE if any(k in stack for k in keys)), "event loop (uvloop, C) and other")
        parts[name] = parts.get(name, 0) + count
    in_loop = sum(parts.values()) or 1
    return {
        "event_loop_pct_of_samples": round(100 * threads.get(main, 0) / total, 1),
        "event_loop_parts_pct": {
            k: round(100 * v / in_loop, 1) for k, v in sorted(parts.items(), key=lambda kv: -kv[1])
        },
    }


def profile_gymkube(n: int, spy: str, seconds: int = 8) -> dict[str, Any]:
    """py-spy on the game pod while N sessions play: where the time goes, and the functions with the most samples."""
    import asyncio

    out = Path(f"/tmp/gymkube-pyspy-{os.getpid()}.txt")
    holder: dict[str, Any] = {}
    original = systems.Server.__init__

    def remember(self: systems.Server, system: str) -> None:
        original(self, system)
        holder["pid"] = self.pid
        holder["spy"] = subprocess.Popen([spy, "record", "--pid", str(self.pid), "--duration", str(seconds),
                                          "--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking",
                                          "--threads", "--gil"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

    systems.Server.__init__ = remember  # type: ignore[method-assign]
    try:
        row = asyncio.run(capacity.measure("gymkube", n, seconds + 2, 1.0))
    finally:
        systems.Server.__init__ = original  # type: ignore[method-assign]
    holder["spy"].wait(30)
    if not out.exists():
        raise RuntimeError(f"{spy} wrote no profile (exit code {holder['spy'].returncode}; it needs ptrace rights)")
    lines = out.read_text().splitlines()
    out.unlink()
    inclusive: dict[str, int] = {}
    total = 0
    for line in lines:
        stack, _, count = line.rpartition(" ")
        total += int(count)
        for frame in set(stack.split(";")[1:]):  # the first entry names the thread
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
    top = sorted(inclusive.items(), key=lambda kv: -kv[1])[: int(os.environ.get("TOPN", "25"))]
    return {
        "row": row,
        "samples_holding_the_gil": total,
        **where_the_time_goes(lines),
        "top_inclusive": [{"frame": frame, "pct": round(100 * count / total, 1)} for frame, count in top],
    }


class Report:
    """The results file of one run, rewritten after every measured row: a crash late in a run keeps what came before."""

    def __init__(self, short: bool, window_s: float, part: str = "") -> None:
        self.started = time.monotonic()
        now = datetime.datetime.now()
        self.stem = now.date().isoformat() + ("-short" if short else "") + (f"-{part}" if part else "")
        self.data: dict[str, Any] = {
            "criterion": f"every session >= {capacity.MIN_FPS:g} fps and p99 input-to-state latency < "
            f"{capacity.MAX_P99_MS:g} ms",
            "date": now.isoformat(timespec="seconds"),
            "short": short,
            "complete": False,
            "machine": machine(),
            "window_s": window_s,
            "capacity": {},
        }

    @property
    def path(self) -> Path:
        return RESULTS / f"{self.stem}.json"

    def row(self, system: str, row: dict[str, Any]) -> None:
        """One measured N of one system."""
        self.data["capacity"].setdefault(system, {"steps": []})["steps"].append(row)
        self.save()

    def system_done(self, system: str, result: dict[str, Any]) -> None:
        self.data["capacity"][system] = result
        self.data["headline"] = {s: r.get("headline") for s, r in self.data["capacity"].items()}
        self.data["fps_headline"] = {s: r.get("fps_headline") for s, r in self.data["capacity"].items()}
        self.save()

    def save(self) -> None:
        self.data["elapsed_s"] = round(time.monotonic() - self.started)
        RESULTS.mkdir(exist_ok=True)
        partial = self.path.with_suffix(".json.partial")
        partial.write_text(json.dumps(self.data, indent=1) + "\n")
        partial.replace(self.path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", action="store_true", default=os.environ.get("BENCH_SHORT") == "1")
    parser.add_argument("--systems", default=",".join(capacity.SYSTEMS))
    parser.add_argument("--profile", type=int, default=0, help="also profile the gymkube pod at this N")
    parser.add_argument("--schedule", help="comma-separated N values instead of the standard step-up")
    parser.add_argument("--capacity-only", action="store_true", help="the capacity step-up only (no flush, Overcooked)")
    args = parser.parse_args()
    spy = find_py_spy() if args.profile else None
    if args.profile and spy is None:
        print("[bench] py-spy not found (`make install` installs it): the profile is skipped", flush=True)
    capacity.pin_loadgen()
    schedule = capacity.SHORT_SCHEDULE if args.short else capacity.SCHEDULE
    if args.schedule:
        schedule = [int(n) for n in args.schedule.split(",")]
    window, warmup, budget = (3.0, 1.0, 60.0) if args.short else (10.0, 2.0, 420.0)
    pod_env = {k: v for k, v in os.environ.items() if k.startswith("BENCH_POD_")}  # see systems.Server
    partial = bool(args.schedule or args.capacity_only or pod_env) or args.systems != ",".join(capacity.SYSTEMS)
    part = "-".join([args.systems.replace(",", "-")] + [f"{k[10:].lower()}-{v}" for k, v in sorted(pod_env.items())])
    report = Report(args.short, window, part if partial else "")
    report.data["schedule"] = schedule
    report.data["pod_env"] = {"GYMKUBE_" + k[10:]: v for k, v in pod_env.items()}
    print(f"[bench] writing {report.path} as rows come in", flush=True)
    for system in args.systems.split(","):
        result = capacity.run_system(system, schedule, window, warmup, budget, on_row=report.row)
        report.system_done(system, result)
    if not args.capacity_only:
        print("[bench] flush and export", flush=True)
        report.data["flush"] = flush.run(args.short)
        report.save()
        print("[bench] Overcooked (server mode, 30 fps)", flush=True)
        report.data["overcooked"] = overcooked.run(args.short)
        report.save()
    if spy is not None:
        print(f"[bench] profiling the gymkube pod at N={args.profile}", flush=True)
        try:
            report.data["gymkube_profile"] = {"n": args.profile, **profile_gymkube(args.profile, spy)}
        except Exception as exc:  # the measured rows are already written; a profile that fails is said so
            print(f"[bench] the profile failed and is skipped: {exc!r}", flush=True)
            report.data["gymkube_profile"] = {"n": args.profile, "error": repr(exc)[:300]}
    report.data["complete"] = True
    report.save()
    plot(report.data["capacity"], RESULTS / f"{report.stem}.png")
    overcooked_headline = {"overcooked": report.data["overcooked"]["headline"]} if "overcooked" in report.data else {}
    print(json.dumps(report.data["headline"] | overcooked_headline))
    print(f"[bench] wrote {RESULTS / report.stem}.json and .png", flush=True)


if __name__ == "__main__":
    main()
