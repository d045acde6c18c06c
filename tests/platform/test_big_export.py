"""A study of millions of step rows downloads completely, every way, with the control plane's memory bounded.

The study is written straight into storage as chunks in the pods' format (tests/storage/
synthetic_study.py), with columns that differ in type and presence between chunks. Peak memory
is the peak resident set (VmHWM) of the control plane process over its whole life, and of a
`gymkube export` process as it reports it when done: what an out-of-memory killer would look at.
Not wait4's ru_maxrss: Linux carries the forking parent's resident size (pytest's, hundreds of
MB late in a run) over exec into the child's. Nor virtual address space (`prlimit --as`):
pyarrow's allocator and thread stacks reserve far more address space than they ever touch.

Two million rows are enough to tell streaming from holding the study: the steps table alone is
about 366 MB in Arrow at that size (182 MB per million rows), and read whole, as a non-streaming
export would, it took a process to a 1.1 GB peak, so anything that holds the study fails the
300 MB bound; streaming peaks at 230-290 MB whatever the size (`make bench-export` measures time
and memory at 1, 5 and 20 million). GYMKUBE_BIG_EXPORT_ROWS sets another size.
"""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import Platform, quick_manifest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from s3server import find_weed, seaweed_s3  # noqa: E402
from synthetic_study import Study, write_study  # noqa: E402

from gymkube.storage import LocalStorage  # noqa: E402

ROWS = int(os.environ.get("GYMKUBE_BIG_EXPORT_ROWS", "2000000"))
MEMORY_LIMIT_MB = 300
pytestmark = pytest.mark.timeout(600)


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident memory so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc")


def download(client: httpx.Client, url: str, path: Path, **params: str) -> httpx.Headers:
    """Stream a response to a file, never holding it whole."""
    with client.stream("GET", url, params=params or None) as reply, path.open("wb") as handle:
        assert reply.status_code == 200, reply.read()
        for piece in reply.iter_bytes(1 << 20):
            handle.write(piece)
        return reply.headers


def count_csv_rows(client: httpx.Client, url: str) -> tuple[list[str], int]:
    """The header and the number of data rows of a CSV download, counted as it streams."""
    with client.stream("GET", url, params={"format": "csv"}) as reply:
        assert reply.status_code == 200, reply.read()
        pieces = reply.iter_bytes(1 << 20)
        first = next(pieces)
        header = next(csv.reader(io.StringIO(first.split(b"\n", 1)[0].decode())))
        return header, first.count(b"\n") - 1 + sum(piece.count(b"\n") for piece in pieces)


def check_steps_parquet(path: Path, study: Study) -> None:
    """Every step row, with the columns reconciled across chunks as documented."""
    parquet = pq.ParquetFile(path)
    assert parquet.metadata.num_rows == study.steps
    schema = parquet.schema_arrow
    assert schema.field("info_score").type == pa.string(), "number in most chunks, text in some: text"
    assert schema.field("info_level").type == pa.float64(), "integer in some chunks, float in others"
    assert schema.field("info_flag").type == pa.bool_()
    assert schema.field("input_frame_agent").type == pa.int64()
    missing = parquet.read_row_group(0, columns=["input_frame_agent"]).column(0).null_count
    assert missing > 0, "the first chunk had no input_frame_agent: its rows are empty there"
    assert parquet.metadata.num_row_groups < study.steps // 10_000, "row groups span many chunks"


def check_sessions_csv(path: Path, study: Study) -> None:
    """One row per session: its newest snapshot."""
    with path.open(newline="") as handle:
        sessions = list(csv.DictReader(handle))
    assert len(sessions) == study.sessions
    assert len({s["session"] for s in sessions}) == study.sessions
    assert {s["status"] for s in sessions} == {"completed"}


# `gymkube export` as the command runs it, then its own peak resident set (VmHWM) on stderr.
MEASURED_EXPORT = """
import sys
from pathlib import Path
from gymkube.cli import main
code = main(["export", *sys.argv[1:]])
peak = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmHWM:"))
sys.stderr.write(f"{peak}\\n")
sys.exit(code)
"""


def export_with_cli(storage: str, out: Path, fmt: str) -> float:
    """Run `gymkube export`; its peak resident memory in MB."""
    command = [sys.executable, "-c", MEASURED_EXPORT, "cartpole", "--data", storage, "--format", fmt, "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert f"cartpole-steps.{fmt}" in result.stdout and "exported" in result.stderr
    peak = re.search(r"^VmHWM:\s+(\d+) kB$", result.stderr, re.MULTILINE)
    assert peak is not None, result.stderr
    return int(peak.group(1)) / 1024


def test_a_big_study_downloads_as_csv_and_parquet_and_exports_in_bounded_memory(platform_factory, tmp_path: Path):
    platform: Platform = platform_factory(quick_manifest(tmp_path, "cartpole.yaml"))
    storage = platform.data_dir / "storage"
    study = write_study(LocalStorage(storage), "cartpole", ROWS)
    headers = {"Authorization": f"Bearer {platform.token('r')}"}
    with httpx.Client(base_url=platform.base, headers=headers, timeout=120) as api:
        base = "/api/v1/experiments/cartpole/data"
        reply = download(api, f"{base}/steps", tmp_path / "steps.parquet", format="parquet")
        assert reply["x-gymkube-rows"] == str(study.steps)
        check_steps_parquet(tmp_path / "steps.parquet", study)
        header, rows = count_csv_rows(api, f"{base}/steps")
        assert rows == study.steps and {"info_score", "input_frame_agent", "session"} <= set(header)
        download(api, f"{base}/sessions", tmp_path / "sessions.csv", format="csv")
        check_sessions_csv(tmp_path / "sessions.csv", study)
    served = peak_rss_mb(platform.process.pid)
    assert served < MEMORY_LIMIT_MB, f"the control plane peaked at {served:.0f} MB"

    out = tmp_path / "export"
    exported = export_with_cli(str(storage), out, "parquet")
    assert exported < MEMORY_LIMIT_MB, f"gymkube export peaked at {exported:.0f} MB"
    check_steps_parquet(out / "cartpole-steps.parquet", study)
    assert pq.ParquetFile(out / "cartpole-episodes.parquet").metadata.num_rows == study.episodes


@pytest.mark.skipif(find_weed() is None, reason="weed is installed with the dev extras")
def test_a_big_study_on_s3_exports_behind_a_presigned_url_in_bounded_memory(platform_factory, tmp_path: Path):
    with seaweed_s3(tmp_path / "s3") as server:
        platform: Platform = platform_factory(quick_manifest(tmp_path, "cartpole.yaml"), env=server.platform_env())
        study = write_study(server.storage("study", "gymkube"), "cartpole", ROWS)
        headers = {"Authorization": f"Bearer {platform.token('r')}"}
        with httpx.Client(base_url=platform.base, headers=headers, timeout=600) as api:
            link = api.get("/api/v1/experiments/cartpole/data/steps/url", params={"format": "parquet"})
            assert link.status_code == 200, link.text
            assert link.json()["rows"] == study.steps
            with httpx.Client(timeout=120) as anonymous:
                download(anonymous, link.json()["url"], tmp_path / "steps.parquet")
        check_steps_parquet(tmp_path / "steps.parquet", study)
        served = peak_rss_mb(platform.process.pid)
        assert served < MEMORY_LIMIT_MB, f"the control plane peaked at {served:.0f} MB"
