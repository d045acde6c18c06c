"""Soak: 10,000 participants through one game pod, 50 at a time, each from consent to completion code.

The pod (`gymkube game-pod`, pinned to core 0 like the other benchmarks) has capacity 50: every
participant must be admitted (admission counts who is here now, not who ever came), finish with
a code, and have every step stored; the pod's memory must stay flat. Writes
`benchmarks/results/soak-<date>.json` (the run's date and machine, admissions, completions, rows
written vs expected, RSS over time, time per participant) and a plot of RSS over time beside it.

    make bench-soak                        # 10,000 participants
    make bench-soak SOAK_PARTICIPANTS=200  # a smoke run of a minute
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import yaml
from browser_capacity import SECRET, Pod, machine

from gymkube.bot import ParticipantBot
from gymkube.integrity.check import check_tables
from gymkube.keys import token_key
from gymkube.storage import LocalStorage
from gymkube.storage.export import read_tables
from gymkube.tokens import sign_token

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
EXPERIMENT = "cartpole"
CAPACITY = 50
RSS_GOAL_MB = 50


def experiment() -> dict[str, Any]:
    """examples/cartpole.yaml made quick: no reading pauses, one episode of at most 30 steps, capacity 50."""
    document = yaml.safe_load((ROOT / "examples" / "cartpole.yaml").read_text())
    spec = document["spec"]
    for scene in spec["scenes"]:
        if scene["type"] == "static":
            scene["minTimeS"] = 0
        if scene["type"] == "gym":
            scene.update(countdownS=0, episodes=1, maxSteps=30)
    spec["capacity"] = CAPACITY
    return dict(document)


class RssSampler(threading.Thread):
    """The pod's resident memory every second, with how many participants had finished by then."""

    def __init__(self, pid: int, progress: list[int]) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process(pid)
        self.progress = progress
        self.samples: list[tuple[float, float, int]] = []  # (s since start, RSS MB, finished)
        self.stopped = threading.Event()

    def run(self) -> None:
        t0 = time.monotonic()
        while not self.stopped.wait(1.0):
            try:
                rss = self.process.memory_info().rss / 2**20
            except psutil.Error:
                return
            self.samples.append((round(time.monotonic() - t0, 1), round(rss, 1), self.progress[0]))


async def participants(pod: Pod, total: int, concurrency: int, finished: list[int]) -> list[dict[str, Any]]:
    """Run `total` bots, `concurrency` at a time; one record per participant."""
    records: list[dict[str, Any]] = []
    numbers = iter(range(total))

    async def lane() -> None:
        for n in numbers:
            bot = ParticipantBot("unused", seed=n)
            bot.pod_url = f"{pod.url}/"
            bot.token = sign_token(
                token_key(SECRET), {"x": EXPERIMENT, "p": f"soak-{n}", "s": f"s{n}", "n": n, "q": {}}
            )
            started = time.monotonic()
            error = None
            try:
                await bot.run(120)
            except Exception as exc:  # recorded: a participant who could not finish is a finding
                error = repr(exc)
            records.append({"n": n, "s": round(time.monotonic() - started, 3), "refused": bot.refused,
                            "code": bot.completion_code, "error": error})  # fmt: skip
            finished[0] += 1

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return records


def plot(samples: list[tuple[float, float, int]], path: Path, title: str) -> None:
    """RSS over time, participants finished on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds, rss, done = zip(*samples, strict=True) if samples else ((), (), ())
    figure, axis = plt.subplots(figsize=(8, 4))
    axis.plot(seconds, rss, color="#1f6feb", label="pod RSS (MB)")
    axis.set_xlabel("seconds")
    axis.set_ylabel("pod RSS (MB)")
    axis.set_ylim(bottom=0)
    other = axis.twinx()
    other.plot(seconds, done, color="#d73a49", linestyle="--", label="participants finished")
    other.set_ylabel("participants finished")
    axis.set_title(title)
    figure.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def stored(pod: Pod) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Every table the pod wrote (after it stopped), and what `gymkube check` says of them."""
    tables = read_tables(LocalStorage(Path(pod.tmp.name) / "storage"), EXPERIMENT)
    rows = {name: table.to_pylist() for name, table in tables.items()}
    return rows, check_tables(EXPERIMENT, rows).problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--participants", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=CAPACITY)
    args = parser.parse_args()

    started_at = datetime.datetime.now(datetime.UTC)
    pod = Pod(experiment())
    finished = [0]
    sampler = RssSampler(pod.pid, finished)
    sampler.start()
    t0 = time.monotonic()
    try:
        records = asyncio.run(participants(pod, args.participants, args.concurrency, finished))
        wall_s = time.monotonic() - t0
        time.sleep(15)  # gone sessions leave memory after presence.LINGER_S
        load = pod.load()
    finally:
        sampler.stopped.set()
        pod.stop()
    rows, problems = stored(pod)
    log = pod.log_path.read_text(errors="replace")
    pod_errors = [line for line in log.splitlines() if " ERROR " in line or line.startswith("Traceback")]
    pod.cleanup()

    samples = sampler.samples
    # Memory grows while the first participants arrive (50 at a time, and the gone ones linger for
    # presence.LINGER_S); growth is measured from the first quarter on, and reported from the start too.
    settled = [rss for _, rss, done in samples if done >= args.participants // 4]
    growth = round(max(settled) - settled[0], 1) if settled else None
    expected_steps = sum(int(e["steps"]) for e in rows.get("episodes", []) if e.get("steps") is not None)
    result = {
        "benchmark": "soak",
        "date": started_at.isoformat(timespec="seconds"),
        "machine": machine(),
        "participants": args.participants,
        "concurrency": args.concurrency,
        "capacity": CAPACITY,
        "admitted": sum(1 for r in records if r["refused"] is None and r["error"] is None),
        "refused": [r for r in records if r["refused"] is not None][:20],
        "errors": [r for r in records if r["error"] is not None][:20],
        "completed": sum(1 for r in records if r["code"]),
        "rows": {
            "steps_written": len(rows.get("steps", [])),
            "steps_expected": expected_steps,
            "sessions": len({s["participant"] for s in rows.get("sessions", [])}),
            "quarantined": sum(1 for e in rows.get("events", []) if e["kind"] == "quarantined"),
        },
        "check_problems": problems[:20],
        "pod_log_errors": pod_errors[:20],
        "wall_s": round(wall_s, 1),
        "s_per_participant": round(wall_s / max(1, len(records)), 4),
        "participant_s_median": round(statistics.median(r["s"] for r in records), 3) if records else None,
        "rss_mb": {
            "start": samples[0][1] if samples else None,
            "after_first_quarter": settled[0] if settled else None,
            "end": samples[-1][1] if samples else None,
            "max_growth_after_first_quarter": growth,
            "goal_max_growth": RSS_GOAL_MB,
        },
        "load_at_end": {k: load.get(k) for k in ("participants", "in_memory", "completed", "connected")},
        "rss_samples": samples,
    }
    result["goals_met"] = (
        result["admitted"] == args.participants
        and result["completed"] == args.participants
        and result["rows"]["steps_written"] == expected_steps
        and not problems
        and not pod_errors
        and growth is not None
        and growth < RSS_GOAL_MB
    )
    RESULTS.mkdir(exist_ok=True)
    stem = f"soak-{started_at.date().isoformat()}" + ("" if args.participants >= 10_000 else f"-{args.participants}")
    (RESULTS / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    plot(
        samples,
        RESULTS / f"{stem}.png",
        f"{args.participants} participants through one pod, {args.concurrency} at a time",
    )
    summary = {k: v for k, v in result.items() if k not in ("rss_samples", "machine")}
    print(json.dumps(summary, indent=1))
    print(f"wrote {RESULTS / stem}.json and .png; goals met: {result['goals_met']}")
    sys.exit(0 if result["goals_met"] else 1)


if __name__ == "__main__":
    main()
