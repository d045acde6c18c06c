"""Benchmark: the game pod's frame wire against python-socketio's emit, same N, runs interleaved.

Run: `python benchmarks/wire_ab.py [--n 96] [--rounds 3]` (about 40 s per round). Each round
measures one capacity row (benchmarks/capacity.py: a fresh pod, N CartPole sessions, 10 s window)
with the frame wire (the default) and one with `GYMKUBE_FAST_FRAMES=false` (every message through
python-socketio), back to back, so both see the same machine. The figure to compare is the server's
CPU per delivered frame, which other load on a shared machine disturbs less than frame rates and
latencies do; the machine's load average is recorded beside each row. Writes
results/wire-ab-<date>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
from pathlib import Path

import capacity
from machine import describe, run_date

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=96)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    capacity.pin_loadgen()
    started = run_date()
    rows: dict[str, list[dict[str, object]]] = {"frame wire": [], "python-socketio emit": []}
    for _ in range(args.rounds):
        for name, fast in (("frame wire", "true"), ("python-socketio emit", "false")):
            os.environ["BENCH_POD_FAST_FRAMES"] = fast  # systems.Server passes it to the pod as GYMKUBE_FAST_FRAMES
            load = os.getloadavg()[0]
            row = asyncio.run(capacity.measure("gymkube", args.n, 10.0, 2.0)) | {"load_avg_1m": round(load, 2)}
            rows[name].append(row)
            print(f"[wire-ab] {name}: {json.dumps(row)}", flush=True)
    os.environ.pop("BENCH_POD_FAST_FRAMES", None)
    summary = {
        name: {
            "server_cpu_us_per_frame_median": statistics.median(r["server_cpu_us_per_frame"] for r in runs),  # type: ignore[misc]
            "latency_p99_ms_median": statistics.median(r["latency_p99_ms"] or float("inf") for r in runs),  # type: ignore[misc]
        }
        for name, runs in rows.items()
    }
    when, day = started
    out = RESULTS / f"wire-ab-{day}.json"
    out.write_text(json.dumps({"date": when, "machine": describe(), "n": args.n, "summary": summary, "rows": rows},
                              indent=1) + "\n")  # fmt: skip
    print(json.dumps(summary))
    print(f"[wire-ab] wrote {out}", flush=True)


if __name__ == "__main__":
    main()
