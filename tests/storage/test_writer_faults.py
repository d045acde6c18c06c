"""The data writer under bad rows and failures: one row never costs the others, a dead writer comes back."""

from __future__ import annotations

import asyncio
import json
import logging
import zipfile
from pathlib import Path
from typing import Any

import pytest

from gymkube.storage import LocalStorage
from gymkube.storage.chunks import QUARANTINE_FILE, DataWriter, chunk_prefix, decode_chunk, encode_chunk
from gymkube.storage.export import read_tables

EXPERIMENT = "exp"
UNENCODABLE: list[tuple[str, Any]] = [
    ("an int beyond 64 bits", 2**64 - 1),
    ("a negative int beyond 64 bits", -(2**70)),
    ("a map without keys", {}),
    ("text that is not Unicode", "\ud800"),
]


def step(participant: str, tick: int, **extra: Any) -> dict[str, Any]:
    return {"experiment": EXPERIMENT, "participant": participant, "session": f"s-{participant}", "episode": 1,
            "step": tick, "input_seq_agent": tick, **extra}  # fmt: skip


@pytest.mark.parametrize(("what", "value"), UNENCODABLE, ids=[w for w, _ in UNENCODABLE])
async def test_a_row_that_cannot_be_encoded_is_quarantined_and_every_other_row_is_written(
    tmp_path: Path, what: str, value: Any
):
    storage = LocalStorage(tmp_path / "store")
    data = DataWriter(storage, EXPERIMENT, "pod-0", tmp_path / "spool")
    for tick in range(1, 41):
        data.add("steps", step("honest", tick))
        if tick == 17:
            data.add("steps", step("mallory", 1, info_x=value))
    data.add("events", {"experiment": EXPERIMENT, "participant": "honest", "session": "s-honest", "t_ns": 1,
                        "kind": "connect", "detail": "{}"})  # fmt: skip
    await data.flush()
    assert data.ready and data.rows_quarantined == 1

    tables = {name: table.to_pylist() for name, table in read_tables(storage, EXPERIMENT).items()}
    assert [r["step"] for r in tables["steps"] if r["participant"] == "honest"] == list(range(1, 41))
    assert not [r for r in tables["steps"] if r["participant"] == "mallory"]
    (notice,) = [e for e in tables["events"] if e["kind"] == "quarantined"]
    assert notice["participant"] == "mallory" and notice["session"] == "s-mallory"
    detail = json.loads(notice["detail"])
    assert detail["table"] == "steps" and detail["why"]
    (key,) = storage.list(chunk_prefix(EXPERIMENT))
    with zipfile.ZipFile(storage.root / key) as chunk:
        (kept,) = [json.loads(line) for line in chunk.read(QUARANTINE_FILE).decode().splitlines()]
    assert kept["table"] == "steps" and "mallory" in kept["row"]


def test_a_column_only_later_rows_have_is_kept():
    data, _ = encode_chunk({"steps": [step("p", 1), step("p", 2, info_final=7.5)]})
    assert [r.get("info_final") for r in decode_chunk(data)["steps"].to_pylist()] == [None, 7.5]


def test_bad_rows_among_many_are_all_found_and_an_events_row_that_cannot_be_encoded_is_noticed_too():
    steps = [step("honest", t) for t in range(1, 1001)]
    for at in (3, 500, 998):
        steps.insert(at, step("mallory", at, info_x=2**65))
    bad_event = {"experiment": EXPERIMENT, "participant": "eve", "session": "s-eve", "t_ns": 2**64, "kind": "x",
                 "detail": "{}"}  # fmt: skip
    data, quarantined = encode_chunk({"steps": steps, "events": [bad_event]})
    tables = decode_chunk(data)
    assert tables["steps"].num_rows == 1000 and set(tables["steps"].column("participant").to_pylist()) == {"honest"}
    assert (
        sorted((q.table, q.row["participant"]) for q in quarantined) == [("events", "eve")] + [("steps", "mallory")] * 3
    )
    notices = [e for e in tables["events"].to_pylist() if e["kind"] == "quarantined"]
    assert sorted(n["participant"] for n in notices) == ["eve", "mallory", "mallory", "mallory"]


class BrokenSpool(DataWriter):
    """A writer whose spool raises something unexpected for the next `failures` chunks."""

    failures = 0

    def _spool(self, name: str, data: bytes) -> None:
        if self.failures:
            self.failures -= 1
            raise RuntimeError("something nobody planned for")
        super()._spool(name, data)


async def test_an_exception_in_a_flush_puts_every_row_back_in_order_and_the_next_flush_writes_them(tmp_path: Path):
    storage = LocalStorage(tmp_path / "store")
    data = BrokenSpool(storage, EXPERIMENT, "pod-0", tmp_path / "spool")
    data.failures = 1
    for tick in (1, 2, 3):
        data.add("steps", step("p", tick))
    with pytest.raises(RuntimeError):
        await data.flush()
    assert data.pending_rows == 3
    data.add("steps", step("p", 4))
    await data.flush()
    assert [r["step"] for r in read_tables(storage, EXPERIMENT)["steps"].to_pylist()] == [1, 2, 3, 4]


async def test_a_dead_writer_is_restarted_logged_and_not_ready_until_it_writes_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    storage = LocalStorage(tmp_path / "store")
    data = BrokenSpool(storage, EXPERIMENT, "pod-0", tmp_path / "spool", interval_s=0.05, min_gap_s=0)
    data.failures = 3
    task = asyncio.get_running_loop().create_task(data.keep_running(restart_delay_s=0.2))
    try:
        data.add("steps", step("p", 1))
        for _ in range(100):
            await asyncio.sleep(0.02)
            if data.restarts:
                break
        assert not data.ready and "something nobody planned for" in (data.failure or "")
        readiness = []
        for tick in range(2, 40):
            data.add("steps", step("p", tick))
            readiness.append(data.ready)
            await asyncio.sleep(0.05)
        assert data.restarts == 3 and data.ready and readiness[-1] and not readiness[0]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    await data.close()
    assert [r["step"] for r in read_tables(storage, EXPERIMENT)["steps"].to_pylist()] == list(range(1, 40))
    assert "the data writer stopped; restarting" in caplog.text and "writes again" in caplog.text


def test_encoding_gives_way_after_every_column_and_table_and_writes_the_same_chunk():
    """The pod's writer encodes beside the tick loop on one core: it pauses after each piece of work (GiveWay)."""
    rows = {
        "steps": [{"participant": "p1", "step": i, "reward": 1.0, "note": None if i % 2 else "x"} for i in range(500)],
        "episodes": [{"participant": "p1", "episode": 1, "return": 500.0}],
    }
    pauses: list[int] = []
    paced, _ = encode_chunk(rows, lambda: pauses.append(1))
    plain, _ = encode_chunk(rows)
    assert len(pauses) == (4 + 1) + (3 + 1), "one pause after each column and after each table's Parquet"
    paced_tables, plain_tables = decode_chunk(paced), decode_chunk(plain)
    assert paced_tables.keys() == plain_tables.keys() == {"steps", "episodes"}
    assert all(paced_tables[name].equals(plain_tables[name]) for name in plain_tables)
