"""Benchmark: concurrent Overcooked sessions per game pod core (server mode), and bytes per frame with and without
frames that carry only what changed.

Run: `python benchmarks/overcooked.py [--short] [--fps N]` (`make bench` runs it after CartPole). The game pod
serves examples/overcooked_ai.yaml (cogrid's Cramped Room, the participant beside the ONNX chef, sprites)
pinned to core 0 (`taskset`), this load generator on core 1; each participant presses a key every frame.
Capacity uses CartPole's criterion (benchmarks/capacity.py) at CartPole's 30 fps: every session at >= 27 fps
and p99 key-to-frame latency under 50 ms (a key waits for the next tick, so at the example's own 8 fps the
latency is 125 ms by construction; `--fps 8` measures how many the pod holds at that rate). Bytes per frame:
msgpack size of the `state` messages a participant received, sampled every tenth frame (mean, and the median,
which leaves out the first frame's scenery), with `deltaFrames` on (the default) and off.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

import capacity
import yaml
from systems import ROOT, Server

BUNDLE = ROOT / "examples" / "overcooked"
SCHEDULE = [1, 2, 4, 8, 12, 16, 24, 32, 48, 64, 96, 128]
SHORT_SCHEDULE = [1, 4]


def experiment(fps: int, delta_frames: bool = True) -> dict[str, Any]:
    """examples/overcooked_ai.yaml reduced to its game and end: no countdown, long episodes, capacity to spare."""
    document = yaml.safe_load((ROOT / "examples" / "overcooked_ai.yaml").read_text())
    spec = document["spec"]
    spec["scenes"] = [scene for scene in spec["scenes"] if scene["type"] in ("gym", "end")]
    game = spec["scenes"][0]
    game.update(countdownS=0, episodes=1000, maxSteps=2000, fps=fps)
    game["rendering"]["deltaFrames"] = delta_frames
    spec["capacity"] = 5000
    spec.pop("bundle", None)  # the pod is given the folder directly (GYMKUBE_BUNDLE_DIR)
    return dict(document)


def measure(n: int, fps: int, window_s: float, warmup_s: float, delta_frames: bool = True) -> dict[str, Any]:
    """N sessions on a fresh pod, one window measured (capacity.measure_on's row)."""
    server = Server("gymkube", experiment(fps, delta_frames), BUNDLE)
    return asyncio.run(capacity.measure_on("gymkube", server, n, window_s, warmup_s, key="ArrowUp", min_fps=0.9 * fps))


def run(short: bool, fps: int = 30) -> dict[str, Any]:
    """Capacity at `fps` (largest N meeting the criterion) and bytes per frame with and without deltas."""
    schedule = SHORT_SCHEDULE if short else SCHEDULE
    window, warmup, budget = (3.0, 1.0, 60.0) if short else (10.0, 2.0, 420.0)
    started = time.monotonic()
    steps: list[dict[str, Any]] = []
    headline = 0
    for n in schedule:
        if time.monotonic() - started > budget:
            break
        row = measure(n, fps, window, warmup)
        steps.append(row)
        print(f"[overcooked] {json.dumps(row)}", flush=True)
        if not row["passed"]:
            break
        headline = n
    sizes = {}
    for delta in (True, False):
        row = measure(4, fps, window, warmup, delta_frames=delta)
        sizes["only changes" if delta else "every object"] = {
            "mean": row["bytes_per_frame"],
            "median": row["bytes_per_frame_median"],
        }
    print(f"[overcooked] bytes per frame: {sizes}", flush=True)
    criterion = f"every session >= {0.9 * fps:g} fps and p99 key-to-frame < {capacity.MAX_P99_MS:g} ms"
    return {"fps": fps, "headline": headline, "steps": steps, "bytes_per_frame": sizes, "criterion": criterion}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="a smoke run: N of 1 and 4, short windows")
    parser.add_argument("--fps", type=int, default=30)
    args = parser.parse_args()
    capacity.pin_loadgen()
    result = run(args.short, args.fps)
    print(json.dumps({"headline": result["headline"], "bytes_per_frame": result["bytes_per_frame"]}))


if __name__ == "__main__":
    main()
