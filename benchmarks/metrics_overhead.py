"""Benchmark: what the game pod's metrics cost on its hot path, per tick and per flush (a microbenchmark).

Run: `make bench-metrics`. The tick loop observes one lateness per tick (`TickWatch`), the frame
fan-out adds one integer per game and tick, and each flush counts its rows and times the inputs in
a worker thread (`PodMetrics.flushed`). Measured at the size `make bench` reaches: 160 sessions at
30 fps, so one second of play is 4,800 step rows (each with a consumed key), 4,800 frame rows and
160 sessions snapshots; the same rows' encoding into a chunk is measured beside it for scale.
Writes benchmarks/results/metrics-overhead-<date>.json.
"""

from __future__ import annotations

import json
import sys
import time
import timeit
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import describe  # noqa: E402

from gymkube.game_pod.metrics import PodMetrics, TickWatch  # noqa: E402
from gymkube.game_pod.protocol import Event  # noqa: E402
from gymkube.storage.chunks import encode_chunk  # noqa: E402

SESSIONS, FPS = 160, 30
RESULTS = Path(__file__).resolve().parent / "results"


def one_second_of_rows() -> dict[str, list[dict[str, Any]]]:
    """What 160 CartPole sessions write in a second: a step row per tick with a key, a frame row, a snapshot."""
    now = time.time_ns()
    steps, frames = [], []
    for session in range(SESSIONS):
        ids = {"experiment": "bench", "participant": f"p{session}", "session": f"s{session}", "game": f"g{session}"}
        for tick in range(FPS):
            t_tick = now + tick * 33_333_333
            steps.append(ids | {"episode": 1, "step": tick + 1, "t_planned_ns": t_tick, "t_tick_ns": t_tick + 200_000,
                                "action_agent": tick % 2, "source_agent": "human", "input_seq_agent": tick,
                                "input_recv_ns_agent": t_tick - 12_000_000, "input_client_ms_agent": t_tick / 1e6,
                                "input_frame_agent": tick, "input_frame_ms_agent": t_tick / 1e6, "reward": 1.0,
                                "terminated": False, "truncated": False, "obs_hash": "0123456789abcdef"})  # fmt: skip
            frames.append(ids | {"agent": "agent", "episode": 1, "step": tick, "t_drawn_client_ms": t_tick / 1e6,
                                 "t_drawn_server_ms": t_tick / 1e6, "t_recv_ns": t_tick})  # fmt: skip
    sessions = [{"experiment": "bench", "participant": f"p{i}", "session": f"s{i}", "status": "active",
                 "updated_ns": now} for i in range(SESSIONS)]  # fmt: skip
    return {"steps": steps, "frames": frames, "sessions": sessions, "events": []}


def per_call_ns(statement: Any, number: int) -> float:
    return min(timeit.repeat(statement, number=number, repeat=5)) / number * 1e9


def main() -> None:
    watch = TickWatch("bench", "pod-0", FPS)
    tick_ns = per_call_ns(lambda: watch(1_234_567), 200_000)
    metrics = PodMetrics("bench", "pod-0")
    messages = [(Event.STATE, {})]

    def fan_out_count() -> None:  # what Pod._send adds per game and tick (one connected member)
        frames = 0
        for event, _ in messages:
            if event == Event.STATE:
                frames += 1
        metrics.frames_sent += frames

    fan_out_ns = per_call_ns(fan_out_count, 200_000)
    rows = one_second_of_rows()
    flushed_ms = per_call_ns(lambda: metrics.flushed(rows, 0.01), 20) / 1e6
    encode_ms = per_call_ns(lambda: encode_chunk(rows), 5) / 1e6
    second_of_ticks_ms = (tick_ns * FPS + fan_out_ns * FPS * SESSIONS) / 1e6
    result = {
        "date": date.today().isoformat(),
        "machine": describe(),
        "sessions": SESSIONS,
        "fps": FPS,
        "tick_watch_ns_per_tick": round(tick_ns),
        "fan_out_count_ns_per_game_tick": round(fan_out_ns),
        "flush_count_ms_per_second_of_rows": round(flushed_ms, 2),
        "encode_chunk_ms_per_second_of_rows": round(encode_ms, 2),
        "hot_path_ms_per_second": round(second_of_ticks_ms, 3),
        "share_of_one_core": f"{(second_of_ticks_ms + flushed_ms) / 10:.2f}%",
    }
    print(json.dumps(result))  # noqa: T201
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"metrics-overhead-{result['date']}.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
