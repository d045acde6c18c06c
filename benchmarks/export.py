"""`make bench-export`: time and peak memory of the control plane exporting 1, 5 and 20 million step rows.

Run: `python benchmarks/export.py [--short] [--rows 1000000,5000000]`. For each size a synthetic
study (tests/storage/synthetic_study.py: CartPole-like step rows in chunks of 10,000, columns
varying between chunks) is written straight into a local storage folder, `gymkube up` serves
it, and each table download (`GET .../data/steps?format=parquet|csv`) is streamed by a client
that counts the bytes and throws them away. Peak memory is the control plane's peak resident
set during that download: its high-water mark is reset before each one (`/proc/PID/clear_refs`)
and read after (VmHWM); its resident set before the download (imports, the app, idle) is
reported beside it. Writes benchmarks/results/export-<date>[-short|-rows].json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from machine import describe

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "storage"))
from synthetic_study import write_study  # noqa: E402

from gymkube.platform.runtime.local import free_port  # noqa: E402
from gymkube.storage import LocalStorage  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
SIZES = (1_000_000, 5_000_000, 20_000_000)
SHORT_SIZES = (200_000,)
FORMATS = ("parquet", "csv")
EXPERIMENT = "cartpole"


def memory_mb(pid: int) -> dict[str, float]:
    """The process's resident set now (VmRSS) and its peak since the last reset (VmHWM), in MB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM")}


def reset_peak(pid: int) -> bool:
    """Restart the process's peak-RSS count from now (Linux 4.0+); False where that is not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class ControlPlane:
    """`gymkube up examples/cartpole.yaml` on a free port over a data folder, until closed."""

    def __init__(self, data: Path) -> None:
        self.port = free_port()
        self.log = (data / "platform.log").open("wb")
        command = [sys.executable, "-m", "gymkube", "up", str(ROOT / "examples" / "cartpole.yaml"),
                   "--port", str(self.port), "--data", str(data)]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT)
        deadline = time.monotonic() + 60
        while b"Researcher API" not in (data / "platform.log").read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the control plane did not start:\n" + (data / "platform.log").read_text())
            time.sleep(0.2)
        token = subprocess.run([sys.executable, "-m", "gymkube", "token", "create", "bench", "--state", str(data)],
                               capture_output=True, text=True, check=True, cwd=ROOT).stdout.strip()  # fmt: skip
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=600,
                                headers={"Authorization": f"Bearer {token}"})  # fmt: skip

    def download(self, fmt: str) -> dict[str, Any]:
        """Stream the steps table once; seconds, bytes and the control plane's memory."""
        pid = self.process.pid
        before = memory_mb(pid)["VmRSS"]
        peak_reset = reset_peak(pid)
        size, started = 0, time.perf_counter()
        with self.api.stream("GET", f"/api/v1/experiments/{EXPERIMENT}/data/steps", params={"format": fmt}) as reply:
            reply.raise_for_status()
            rows = int(reply.headers["x-gymkube-rows"])
            for piece in reply.iter_bytes(1 << 20):
                size += len(piece)
        seconds = time.perf_counter() - started
        return {
            "format": fmt,
            "rows": rows,
            "seconds": round(seconds, 2),
            "rows_per_s": round(rows / seconds),
            "mb": round(size / 1e6, 1),
            "rss_before_mb": round(before),
            "peak_rss_mb": round(memory_mb(pid)["VmHWM"]),
            "peak_is": "during this download" if peak_reset else "since the control plane started",
        }

    def close(self) -> None:
        self.api.close()
        self.process.terminate()
        self.process.wait(60)
        self.log.close()


def run(sizes: tuple[int, ...]) -> list[dict[str, Any]]:
    """Every size in every format."""
    results = []
    for rows in sizes:
        with tempfile.TemporaryDirectory(prefix="bench-export-") as folder:
            started = time.perf_counter()
            study = write_study(LocalStorage(Path(folder) / "storage"), EXPERIMENT, rows)
            print(f"[bench-export] {rows:,} rows in {study.chunks} chunks written in "
                  f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
            plane = ControlPlane(Path(folder))
            try:
                for fmt in FORMATS:
                    result = plane.download(fmt) | {"chunks": study.chunks}
                    print(f"[bench-export] {json.dumps(result)}", flush=True)
                    results.append(result)
            finally:
                plane.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", action="store_true", default=os.environ.get("BENCH_SHORT") == "1",
                        help=f"smoke run: {', '.join(f'{n:,}' for n in SHORT_SIZES)} rows")  # fmt: skip
    parser.add_argument("--rows", help="comma-separated sizes instead of 1, 5 and 20 million")
    args = parser.parse_args()
    sizes = tuple(int(n) for n in args.rows.split(",")) if args.rows else SHORT_SIZES if args.short else SIZES
    started = time.monotonic()
    report = {
        "what": "GET /api/v1/experiments/{name}/data/steps streamed through the control plane (gymkube up)",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "short": args.short,
        "sizes": list(sizes),
        "machine": describe(),
        "downloads": run(sizes),
    }
    report["elapsed_s"] = round(time.monotonic() - started)
    RESULTS.mkdir(exist_ok=True)
    suffix = "-rows" if args.rows else "-short" if args.short else ""
    path = RESULTS / f"export-{datetime.date.today().isoformat()}{suffix}.json"
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"[bench-export] wrote {path}", flush=True)


if __name__ == "__main__":
    main()
