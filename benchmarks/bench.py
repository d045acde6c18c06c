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
import subprocess
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


def profile_gymkube(n: int, seconds: int = 8) -> list[dict[str, Any]]:
    """py-spy on the game pod while N sessions play: the functions with the most samples (inclusive)."""
    import asyncio

    spy = str(Path(__file__).resolve().parents[1] / ".venv" / "bin" / "py-spy")
    out = Path(f"/tmp/gymkube-pyspy-{os.getpid()}.txt")
    holder: dict[str, Any] = {}
    original = systems.Server.__init__

    def remember(self: systems.Server, system: str) -> None:
        original(self, system)
        holder["pid"] = self.pid
        holder["spy"] = subprocess.Popen([spy, "record", "--pid", str(self.pid), "--duration", str(seconds),
                                          "--rate", "200", "--format", "raw", "--output", str(out), "--nonblocking"],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

    systems.Server.__init__ = remember  # type: ignore[method-assign]
    try:
        asyncio.run(capacity.measure("gymkube", n, seconds + 2, 1.0))
    finally:
        systems.Server.__init__ = original  # type: ignore[method-assign]
    holder["spy"].wait(30)
    inclusive: dict[str, int] = {}
    total = 0
    for line in out.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        total += int(count)
        for frame in set(stack.split(";")):
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
    out.unlink()
    top = sorted(inclusive.items(), key=lambda kv: -kv[1])[: int(os.environ.get("TOPN", "25"))]
    return [{"frame": frame, "pct": round(100 * count / total, 1)} for frame, count in top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", action="store_true", default=os.environ.get("BENCH_SHORT") == "1")
    parser.add_argument("--systems", default=",".join(capacity.SYSTEMS))
    parser.add_argument("--profile", type=int, default=0, help="also profile the gymkube pod at this N")
    args = parser.parse_args()
    capacity.pin_loadgen()
    started = time.monotonic()
    schedule = capacity.SHORT_SCHEDULE if args.short else capacity.SCHEDULE
    window, warmup, budget = (3.0, 1.0, 60.0) if args.short else (10.0, 2.0, 420.0)
    results = {s: capacity.run_system(s, schedule, window, warmup, budget) for s in args.systems.split(",")}
    print("[bench] flush and export", flush=True)
    report: dict[str, Any] = {
        "headline": {system: result["headline"] for system, result in results.items()},
        "fps_headline": {system: result["fps_headline"] for system, result in results.items()},
        "criterion": f"every session >= {capacity.MIN_FPS:g} fps and p99 input-to-state latency < "
        f"{capacity.MAX_P99_MS:g} ms",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "short": args.short,
        "machine": machine(),
        "window_s": window,
        "capacity": results,
        "flush": flush.run(args.short),
    }
    print("[bench] Overcooked (server mode, 30 fps)", flush=True)
    report["overcooked"] = overcooked.run(args.short)
    if args.profile:
        print(f"[bench] profiling the gymkube pod at N={args.profile}", flush=True)
        report["gymkube_profile"] = {"n": args.profile, "top_inclusive": profile_gymkube(args.profile)}
    report["elapsed_s"] = round(time.monotonic() - started)
    RESULTS.mkdir(exist_ok=True)
    stem = datetime.date.today().isoformat() + ("-short" if args.short else "")
    (RESULTS / f"{stem}.json").write_text(json.dumps(report, indent=1) + "\n")
    plot(results, RESULTS / f"{stem}.png")
    print(json.dumps(report["headline"] | {"overcooked": report["overcooked"]["headline"]}))
    print(f"[bench] wrote {RESULTS / stem}.json and .png", flush=True)


if __name__ == "__main__":
    main()
