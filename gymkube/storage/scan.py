"""Reading one table of an experiment out of its chunks in bounded memory: a survey, then batches.

Each chunk is a zip of stored (uncompressed) Parquet files, so every table's file is one byte
range of the chunk and is read in place: its footer alone for the schema, its columns batch by
batch for the rows. The survey (first pass) reads only footers and settles one schema for the
whole table before any row is read (`lenient_schema`: a column typed differently in two chunks
becomes text); the second pass conforms each batch to it. Memory depends on one chunk's batch,
never on the study's size.

The `sessions` table holds snapshots appended at every change; readers get the newest per
session. The survey reads the `session` and `updated_ns` columns only and keeps, per session,
where its newest snapshot is (memory grows with participants, not with steps); the second pass
takes exactly those rows. Rows come in storage order: chunk by chunk, as flushed.
"""

from __future__ import annotations

import logging
import struct
import zipfile
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from itertools import takewhile
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gymkube.storage.backends import Storage
from gymkube.storage.chunks import chunk_prefix
from gymkube.storage.s3io import SeekableView
from gymkube.storage.schemas import conform, lenient_schema

log = logging.getLogger(__name__)

ROWS_PER_BATCH = 16_384
READ_AHEAD = 4
"""Chunks opened ahead of the one being read (on S3 each is a GET; small chunks arrive whole)."""
_LOCAL_HEADER = 30  # bytes of a zip local file header before its name and extra field


class ChunkError(ValueError):
    """A chunk is not what the data writer writes (not a zip of stored Parquet files)."""


@dataclass
class TablePlan:
    """What the survey learnt about one table: its settled schema, its rows, which chunks to read."""

    experiment: str
    table: str
    schema: pa.Schema | None = None
    rows: int = 0
    chunks: int = 0
    """Chunks of the experiment seen by the survey (with or without this table)."""
    last_key: str = ""
    """The newest chunk surveyed; chunks stored after the survey are left for the next export."""
    newest: dict[str, list[int]] | None = None
    """For `sessions`: chunk key -> rows holding some session's newest snapshot."""


@dataclass
class _Newest:
    """Per session, where its newest snapshot is: (updated_ns, chunk key, row)."""

    best: dict[Any, tuple[int, str, int]] = field(default_factory=dict)

    def add(self, key: str, sessions: list[Any], updated: list[Any]) -> None:
        for row, (session, stamp) in enumerate(zip(sessions, updated, strict=True)):
            stamp = -1 if stamp is None else int(stamp)
            known = self.best.get(session)
            if known is None or stamp >= known[0]:  # a later equal snapshot wins, as it was written later
                self.best[session] = (stamp, key, row)

    def by_chunk(self) -> dict[str, list[int]]:
        rows: dict[str, list[int]] = {}
        for _, key, row in self.best.values():
            rows.setdefault(key, []).append(row)
        return {key: sorted(found) for key, found in rows.items()}


class _Window(SeekableView):
    """`length` bytes of `handle` from `offset`: one member of a chunk's zip, read in place."""

    def __init__(self, handle: BinaryIO, offset: int, length: int) -> None:
        super().__init__(length)
        self.handle, self.offset = handle, offset

    def read_at(self, position: int, buffer: memoryview) -> int:
        self.handle.seek(self.offset + position)
        return int(self.handle.readinto(buffer))  # type: ignore[attr-defined]


def table_of(member: str) -> str:
    """The table a chunk member holds rows of: `steps.parquet`, and the parts `steps.1.parquet` or
    `events.notices.parquet` a writer adds when rows had to be encoded apart (see storage/tables.py)."""
    return member.removesuffix(".parquet").split(".", 1)[0]


def chunk_tables(key: str, handle: BinaryIO, wanted: Iterable[str] | None = None) -> dict[str, list[pq.ParquetFile]]:
    """Each table's (or each `wanted` table's) Parquet files inside one open chunk, in order, read in place.

    Raises:
        ChunkError: when the chunk is not a zip of stored Parquet files.
    """
    try:
        with zipfile.ZipFile(handle) as archive:
            members = [m for m in archive.infolist() if m.filename.endswith(".parquet")]
        if wanted is not None:
            names = set(wanted)
            members = [m for m in members if table_of(m.filename) in names]
        tables: dict[str, list[pq.ParquetFile]] = {}
        for member in members:
            if member.compress_type != zipfile.ZIP_STORED:
                raise ChunkError(f"{member.filename} is compressed")
            handle.seek(member.header_offset)
            header = handle.read(_LOCAL_HEADER)
            if len(header) != _LOCAL_HEADER or header[:4] != b"PK\x03\x04":
                raise ChunkError(f"{member.filename} has no local header")
            name_length, extra_length = struct.unpack("<HH", header[26:30])
            start = member.header_offset + _LOCAL_HEADER + name_length + extra_length
            window = _Window(handle, start, member.compress_size)
            tables.setdefault(table_of(member.filename), []).append(pq.ParquetFile(window, pre_buffer=True))
        return tables
    except (zipfile.BadZipFile, pa.ArrowException, ChunkError, struct.error, OSError) as exc:
        raise ChunkError(f"data chunk {key} is damaged ({exc}); move it aside to export the rest") from exc


def _opened(storage: Storage, keys: Iterable[str]) -> Iterator[tuple[str, BinaryIO]]:
    """Each chunk opened for reading, READ_AHEAD of them fetched in the background; vanished ones skipped."""

    def open_or_none(key: str) -> BinaryIO | None:
        try:
            return storage.open_read(key)
        except KeyError:  # deleted since it was listed
            return None

    pending: deque[tuple[str, Future[BinaryIO | None]]] = deque()
    with ThreadPoolExecutor(READ_AHEAD, thread_name_prefix="chunk-read") as pool:
        try:
            for key in keys:
                pending.append((key, pool.submit(open_or_none, key)))
                if len(pending) > READ_AHEAD:
                    key, opening = pending.popleft()
                    if (handle := opening.result()) is not None:
                        yield key, handle
            while pending:
                key, opening = pending.popleft()
                if (handle := opening.result()) is not None:
                    yield key, handle
        finally:  # a reader that stops early must not leave opened chunks behind
            for _, opening in pending:
                opening.cancel()
                if not opening.cancelled() and opening.exception() is None and (handle := opening.result()):
                    handle.close()


def _chunk_keys(storage: Storage, experiment: str) -> Iterator[str]:
    return (key for key in storage.iter_keys(chunk_prefix(experiment)) if key.endswith(".zip"))


def _note_schema(seen: list[pa.Schema], schema: pa.Schema) -> None:
    """Remember a chunk's schema; many different ones (columns that vary by chunk) are merged as they come."""
    if schema not in seen:
        seen.append(schema)
    if len(seen) > 8:
        seen[:] = [lenient_schema(seen)]


def survey(storage: Storage, experiment: str, tables: Iterable[str]) -> dict[str, TablePlan]:
    """First pass over every chunk: each table's schema and row count, from Parquet footers.

    Raises:
        ChunkError: when a chunk is damaged (before any row is written anywhere).
    """
    plans = {name: TablePlan(experiment, name) for name in tables}
    schemas: dict[str, list[pa.Schema]] = {name: [] for name in plans}
    newest = _Newest()
    chunks, last_key = 0, ""
    for key, handle in _opened(storage, _chunk_keys(storage, experiment)):
        with closing(handle):
            chunks, last_key = chunks + 1, key
            for name, parts in chunk_tables(key, handle, plans).items():
                plan = plans[name]
                sessions: list[Any] = []
                updated: list[Any] = []
                for parquet in parts:
                    if not parquet.metadata.num_rows:
                        continue
                    plan.rows += parquet.metadata.num_rows
                    _note_schema(schemas[name], parquet.schema_arrow)
                    if name == "sessions":
                        names = parquet.schema_arrow.names
                        part = parquet.read(columns=[c for c in ("session", "updated_ns") if c in names])
                        count = part.num_rows
                        column = part.column  # a missing column counts as empty
                        sessions += column("session").to_pylist() if "session" in names else [None] * count
                        updated += column("updated_ns").to_pylist() if "updated_ns" in names else [None] * count
                if sessions:
                    newest.add(key, sessions, updated)  # row numbers run on across the table's parts
    for name, plan in plans.items():
        plan.chunks, plan.last_key = chunks, last_key
        if schemas[name]:
            plan.schema = lenient_schema(schemas[name])
        if name == "sessions":
            plan.newest = newest.by_chunk()
            plan.rows = len(newest.best)
    return plans


def _fit(key: str, table: pa.Table, schema: pa.Schema) -> pa.Table | None:
    """The rows conformed to the settled schema; None (and a warning) for a chunk the survey did not see."""
    extra = set(table.column_names) - set(schema.names)
    try:
        fitted = conform(table, schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        log.warning("chunk %s was stored during the export and does not fit its columns (%s); export again", key, exc)
        return None
    if extra:
        log.warning("chunk %s was stored during the export; its new columns %s are left out", key, sorted(extra))
    return fitted


def read_batches(
    storage: Storage,
    plan: TablePlan,
    columns: list[str] | None = None,
    filter: pc.Expression | None = None,  # noqa: A002 - the name pyarrow uses
) -> Iterator[pa.RecordBatch]:
    """Second pass: the table's rows as record batches of `output_schema(plan, columns)`.

    Raises:
        KeyError: when a requested column is not in the table.
    """
    if plan.schema is None:
        return
    out_schema = output_schema(plan, columns)
    keys: Iterable[str]
    if plan.newest is not None:
        keys = sorted(plan.newest)
    else:
        keys = takewhile(lambda key: key <= plan.last_key, _chunk_keys(storage, plan.experiment))
    for key, handle in _opened(storage, keys):
        with closing(handle):
            keep = plan.newest.get(key, []) if plan.newest is not None else None
            start = 0  # row numbers run on across the table's parts, as the survey counted them
            for parquet in chunk_tables(key, handle, [plan.table]).get(plan.table, []):
                # A filter may name columns that are not selected: read every column then.
                wanted = plan.schema.names if filter is not None else out_schema.names
                present = [c for c in wanted if c in parquet.schema_arrow.names] or parquet.schema_arrow.names[:1]
                for batch in parquet.iter_batches(batch_size=ROWS_PER_BATCH, columns=present, use_threads=False):
                    part = pa.Table.from_batches([batch])
                    if keep is not None:
                        rows = [row - start for row in keep if start <= row < start + batch.num_rows]
                        part = part.take(pa.array(rows, pa.int64()))
                    start += batch.num_rows
                    fitted = _fit(key, part, plan.schema)
                    if fitted is None:
                        break
                    if filter is not None:
                        fitted = fitted.filter(filter)
                    for out in fitted.select(out_schema.names).to_batches():
                        if out.num_rows:
                            yield out


def output_schema(plan: TablePlan, columns: list[str] | None = None) -> pa.Schema:
    """The schema of what `read_batches` yields: the settled one, or its `columns` in that order.

    Raises:
        KeyError: when a requested column is not in the table.
    """
    schema = plan.schema if plan.schema is not None else pa.schema([])
    if columns is None:
        return schema
    unknown = [c for c in columns if c not in schema.names]
    if unknown:
        raise KeyError(f"no column {', '.join(map(repr, unknown))} in {plan.table}; it has {', '.join(schema.names)}")
    return pa.schema([schema.field(c) for c in columns])
