"""The data writer and export: rows survive storage outages and come out merged and sorted."""

from __future__ import annotations

import asyncio
import csv
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from gymkube.storage import LocalStorage
from gymkube.storage.chunks import DataWriter, chunk_prefix, decode_chunk, encode_chunk
from gymkube.storage.export import export_experiment, read_tables

EXPERIMENT = "exp"


class FlakyStorage(LocalStorage):
    """LocalStorage whose uploads fail while `down` (or for the next `failures` puts)."""

    def __init__(self, root: Path, failures: int = 0) -> None:
        super().__init__(root)
        self.down = False
        self.failures = failures
        self.attempts = 0

    def put(self, key: str, data: bytes) -> None:
        self.attempts += 1
        if self.down or self.failures > 0:
            self.failures = max(0, self.failures - 1)
            raise ConnectionError("storage endpoint unreachable")
        super().put(key, data)


def step(session: str, tick: int, **extra: Any) -> dict[str, Any]:
    return {"session": session, "episode": 1, "step": tick, "t_tick_ns": 1_000 * tick, **extra}


def writer(storage: LocalStorage, spool: Path, pod: str = "pod-0") -> DataWriter:
    return DataWriter(storage, EXPERIMENT, pod, spool)


async def test_rows_added_across_several_flushes_export_merged_and_sorted(tmp_path: Path):
    storage = LocalStorage(tmp_path / "store")
    data = writer(storage, tmp_path / "spool")
    for tick in (5, 6):
        data.add("steps", step("s2", tick))
        data.add("steps", step("s1", tick))
    await data.flush()
    for tick in (3, 4, 1, 2):
        data.add("steps", step("s1", tick))
    data.add("episodes", {"session": "s1", "episode": 1, "t_start_ns": 10, "status": "terminated"})
    await data.flush()
    data.add("steps", step("s2", 1))
    await data.flush()

    assert len(storage.list(chunk_prefix(EXPERIMENT))) == 3
    assert data.rows_written == 10 and data.chunks_uploaded == 3
    tables = read_tables(storage, EXPERIMENT)
    steps = [(r["session"], r["step"]) for r in tables["steps"].to_pylist()]
    assert steps == [("s1", t) for t in range(1, 7)] + [("s2", 1), ("s2", 5), ("s2", 6)]
    assert tables["episodes"].to_pylist()[0]["status"] == "terminated"


async def test_an_empty_flush_writes_no_chunk(tmp_path: Path):
    storage = LocalStorage(tmp_path / "store")
    data = writer(storage, tmp_path / "spool")
    await data.flush()
    assert storage.list(chunk_prefix(EXPERIMENT)) == [] and data.chunks_uploaded == 0


async def test_session_snapshots_resolve_to_the_newest_per_session(tmp_path: Path):
    storage = LocalStorage(tmp_path / "store")
    data = writer(storage, tmp_path / "spool")
    data.add("sessions", {"session": "s1", "t_start_ns": 100, "updated_ns": 100, "status": "started"})
    data.add("sessions", {"session": "s2", "t_start_ns": 50, "updated_ns": 150, "status": "started"})
    await data.flush()
    data.add("sessions", {"session": "s1", "t_start_ns": 100, "updated_ns": 300, "status": "completed"})
    data.add("sessions", {"session": "s1", "t_start_ns": 100, "updated_ns": 200, "status": "playing"})
    await data.flush()

    sessions = read_tables(storage, EXPERIMENT)["sessions"].to_pylist()
    assert [(s["session"], s["status"]) for s in sessions] == [("s2", "started"), ("s1", "completed")]


async def test_chunks_stay_in_the_spool_while_storage_is_down_and_all_upload_once_it_is_back(tmp_path: Path):
    storage = FlakyStorage(tmp_path / "store")
    spool = tmp_path / "spool"
    data = writer(storage, spool)
    storage.down = True
    added = 0
    for flush in range(3):
        for tick in range(1, 21):
            data.add("steps", step(f"s{flush}", tick))
            added += 1
        await data.flush()
        assert data.last_error is not None and data.last_error.startswith("upload failed")
        assert data.spooled_chunks == flush + 1
    assert storage.list(chunk_prefix(EXPERIMENT)) == []
    assert data.pending_rows == 0 and data.rows_written == added
    assert sum(len(decode_chunk(p.read_bytes())["steps"]) for p in spool.glob("*.zip")) == added

    storage.down = False
    await data.flush()
    assert data.last_error is None
    assert data.spooled_chunks == 0 and list(spool.iterdir()) == []
    assert data.chunks_uploaded == 3
    steps = read_tables(storage, EXPERIMENT)["steps"].to_pylist()
    assert len(steps) == added
    assert sorted((r["session"], r["step"]) for r in steps) == sorted(
        (f"s{f}", t) for f in range(3) for t in range(1, 21)
    )


async def test_a_full_spool_sends_rows_straight_to_storage_says_so_once_and_recovers_when_room_is_back(
    tmp_path: Path,
):
    storage = FlakyStorage(tmp_path / "store")
    data = writer(storage, tmp_path / "spool")
    told: list[str | None] = []
    data.on_spool_error = told.append
    data.add("steps", step("s1", 1))
    await data.flush()  # an ordinary chunk, through the spool
    data.headroom_bytes = 1 << 62  # more free space than any disk has: the spool counts as full
    for tick in (2, 3):
        data.add("steps", step("s1", tick))
        await data.flush()
    assert len(told) == 1 and "No space left on device" in told[0] and "spool" in told[0]
    assert data.last_error == data.spool_error and data.pending_rows == 0 and data.rows_written == 3
    assert list((tmp_path / "spool").iterdir()) == [], "no partial file is left to take the space"

    storage.down = True  # storage fails too: the rows wait in memory, none is dropped
    data.add("steps", step("s1", 4))
    await data.flush()
    assert data.pending_rows == 1 and data.rows_written == 3

    storage.down = False
    data.headroom_bytes = 0
    await data.flush()
    assert told[-1] is None and data.spool_error is None and data.last_error is None
    assert [r["step"] for r in read_tables(storage, EXPERIMENT)["steps"].to_pylist()] == [1, 2, 3, 4]


class SlowEncodingWriter(DataWriter):
    """A writer whose chunk encoding takes a while, so a flush can be caught in progress."""

    def _encode(self, rows: dict[str, list[dict[str, Any]]]) -> tuple[str, bytes]:
        time.sleep(0.3)
        return super()._encode(rows)


async def test_stopping_the_flush_loop_mid_flush_loses_no_row(tmp_path: Path):
    # Seen as a flaky group test: the pod cancelled its flush loop while a flush held rows taken
    # out of the buffer, and those rows (an episode's end, the scene rows) never reached storage.
    storage = LocalStorage(tmp_path / "store")
    data = SlowEncodingWriter(storage, EXPERIMENT, "pod-0", tmp_path / "spool", min_gap_s=0)
    loop = asyncio.get_running_loop().create_task(data.run())
    data.add("steps", step("s1", 1))
    data.request_flush()
    await asyncio.sleep(0.1)  # the flush has taken the row and is encoding it
    assert data.pending_rows == 0
    loop.cancel()
    await asyncio.gather(loop, return_exceptions=True)
    data.add("steps", step("s1", 2))
    await data.close()
    assert [r["step"] for r in read_tables(storage, EXPERIMENT)["steps"].to_pylist()] == [1, 2]


async def test_a_single_failed_upload_is_retried_at_the_next_flush(tmp_path: Path):
    storage = FlakyStorage(tmp_path / "store", failures=1)
    data = writer(storage, tmp_path / "spool")
    data.add("steps", step("s1", 1))
    await data.flush()
    assert data.spooled_chunks == 1 and data.last_error is not None
    data.add("steps", step("s1", 2))
    await data.flush()
    assert data.spooled_chunks == 0 and data.last_error is None
    assert [r["step"] for r in read_tables(storage, EXPERIMENT)["steps"].to_pylist()] == [1, 2]


async def test_close_retries_until_a_brief_outage_is_over(tmp_path: Path):
    storage = FlakyStorage(tmp_path / "store", failures=2)
    data = writer(storage, tmp_path / "spool")
    data.add("steps", step("s1", 1))
    await data.close(attempts=5)
    assert data.spooled_chunks == 0
    assert len(read_tables(storage, EXPERIMENT)["steps"]) == 1


async def test_a_chunk_left_in_the_spool_by_a_previous_process_is_uploaded_by_the_next_writer(
    tmp_path: Path,
):
    spool = tmp_path / "spool"
    storage = FlakyStorage(tmp_path / "store")
    storage.down = True
    crashed = writer(storage, spool, pod="pod-0")
    for tick in range(1, 8):
        crashed.add("steps", step("s1", tick))
    await crashed.flush()
    assert crashed.spooled_chunks == 1
    del crashed  # the process died before storage came back

    healthy = LocalStorage(tmp_path / "store")
    restarted = writer(healthy, spool, pod="pod-0")
    await restarted.flush()
    assert restarted.spooled_chunks == 0 and restarted.chunks_uploaded == 1
    assert [r["step"] for r in read_tables(healthy, EXPERIMENT)["steps"].to_pylist()] == list(range(1, 8))


def test_a_chunk_decodes_to_the_rows_that_were_encoded():
    rows = {
        "steps": [step("s1", 1, reward=0.5, info_x=None), step("s1", 2, reward=1.0, info_x=2.0)],
        "events": [{"session": "s1", "t_ns": 5, "kind": "connect", "detail": "ünïcode ✓"}],
        "episodes": [],
    }
    tables = decode_chunk(encode_chunk(rows)[0])
    assert set(tables) == {"steps", "events"}  # empty tables are left out
    assert tables["steps"].to_pylist() == rows["steps"]
    assert tables["events"].to_pylist() == rows["events"]


async def test_a_column_added_in_a_later_chunk_is_empty_for_earlier_rows(tmp_path: Path):
    storage = LocalStorage(tmp_path / "store")
    data = writer(storage, tmp_path / "spool")
    data.add("steps", step("s1", 1))
    await data.flush()
    data.add("steps", step("s1", 2, info_score=3.0))
    await data.flush()
    steps = read_tables(storage, EXPERIMENT)["steps"].to_pylist()
    assert [r["info_score"] for r in steps] == [None, 3.0]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
async def test_export_writes_one_file_per_table_with_every_row(tmp_path: Path, fmt: str):
    storage = LocalStorage(tmp_path / "store")
    data = writer(storage, tmp_path / "spool")
    for tick in (2, 1, 3):
        data.add("steps", step("s1", tick, action_agent=tick % 2))
    await data.flush()
    data.add("episodes", {"session": "s1", "episode": 1, "t_start_ns": 1, "status": "truncated"})
    data.add("sessions", {"session": "s1", "t_start_ns": 1, "updated_ns": 1, "status": "completed"})
    await data.flush()

    out = tmp_path / "out"
    written = export_experiment(EXPERIMENT, tmp_path / "store", out, fmt=fmt)
    names = {f"{EXPERIMENT}-{t}.{fmt}" for t in ("steps", "episodes", "sessions")}
    assert {t.path.name for t in written} == names
    assert {p.name for p in out.iterdir()} == names
    steps_path = out / f"{EXPERIMENT}-steps.{fmt}"
    # Rows come in the order they were stored (sorting would need the whole table in memory).
    if fmt == "csv":
        with steps_path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
        assert [(r["session"], r["step"], r["action_agent"]) for r in rows] == [
            ("s1", "2", "0"),
            ("s1", "1", "1"),
            ("s1", "3", "1"),
        ]
    else:
        rows = pq.read_table(steps_path).to_pylist()
        assert [(r["step"], r["action_agent"]) for r in rows] == [(2, 0), (1, 1), (3, 1)]
    assert not list(out.glob(".*")), "no partial file is left behind"


def test_export_of_an_experiment_without_data_says_so(tmp_path: Path):
    with pytest.raises(SystemExit, match="no data"):
        export_experiment("nothing", tmp_path / "store", tmp_path / "out")


async def test_a_column_mixing_numbers_and_text_does_not_stop_other_rows_from_being_stored(tmp_path: Path):
    storage = LocalStorage(tmp_path / "store")
    data = writer(storage, tmp_path / "spool")
    data.add("sessions", {"session": "s1", "t_start_ns": 1, "updated_ns": 1, "status": "completed"})
    data.add("steps", step("s1", 1, info_target=1.0))
    data.add("steps", step("s1", 2, info_target="null"))  # what Game records for info None
    await data.flush()
    await data.flush()
    tables = read_tables(storage, EXPERIMENT)
    assert "sessions" in tables, f"nothing stored; last_error={data.last_error!r}"
    assert [r["status"] for r in tables["sessions"].to_pylist()] == ["completed"]


async def test_an_experiment_whose_chunks_disagree_on_a_column_type_can_still_be_exported(tmp_path: Path):
    storage = LocalStorage(tmp_path / "store")
    data = writer(storage, tmp_path / "spool")
    data.add("steps", step("s1", 1, info_target=1.0))
    await data.flush()
    data.add("steps", step("s1", 2, info_target="null"))
    await data.flush()
    assert data.spooled_chunks == 0
    written = export_experiment(EXPERIMENT, tmp_path / "store", tmp_path / "out", fmt="csv")
    assert [t.path.name for t in written] == [f"{EXPERIMENT}-steps.csv"]
