"""Writing one table as CSV or Parquet while its rows stream in: to an HTTP response, a file or an object.

The writers take record batches from `scan.read_batches` and never hold more than one Parquet
row group (`ROW_GROUP_ROWS` rows or `ROW_GROUP_BYTES`, whichever comes first). Row groups are
that large, rather than one per chunk, because a Parquet writer keeps every row group's
metadata until it closes: thousands of tiny groups would cost memory and make the file slow
to read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import BinaryIO

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gymkube.storage.backends import MiB, Storage
from gymkube.storage.scan import TablePlan, read_batches

FORMATS = ("csv", "parquet")
ROW_GROUP_ROWS = 32_768
ROW_GROUP_BYTES = 16 * MiB
HTTP_PIECE = 1 * MiB
"""An HTTP download is sent in pieces of about this size."""


def encode(batches: Iterable[pa.RecordBatch], schema: pa.Schema, fmt: str, sink: BinaryIO) -> Iterator[int]:
    """Write the batches to `sink` as `fmt`, yielding the rows written so far after each write."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; use one of {', '.join(FORMATS)}")
    written = 0
    if fmt == "csv":
        with pacsv.CSVWriter(sink, schema) as csv_writer:
            for batch in batches:
                csv_writer.write_batch(batch)
                written += batch.num_rows
                yield written
        return
    with pq.ParquetWriter(sink, schema, compression="zstd") as parquet_writer:
        group: list[pa.RecordBatch] = []
        rows = size = 0
        for batch in batches:
            group.append(batch)
            rows, size = rows + batch.num_rows, size + batch.nbytes
            if rows >= ROW_GROUP_ROWS or size >= ROW_GROUP_BYTES:
                parquet_writer.write_table(pa.Table.from_batches(group, schema), row_group_size=rows)
                written += rows
                group, rows, size = [], 0, 0
                pa.default_memory_pool().release_unused()
                yield written
        if group:
            parquet_writer.write_table(pa.Table.from_batches(group, schema), row_group_size=rows)
            written += rows
    yield written


class _Pieces:
    """A write-only file that hands out what was written since it was last taken."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0
        self.closed = False

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts, self.size = b"".join(self.parts), [], 0
        return data


def stream_plan(storage: Storage, plan: TablePlan, fmt: str) -> Iterator[bytes]:
    """The surveyed table's bytes as `fmt`, in pieces of about HTTP_PIECE; nothing when it has no rows."""
    if plan.schema is None or not plan.rows:
        return
    pieces = _Pieces()
    for _ in encode(read_batches(storage, plan), plan.schema, fmt, pieces):  # type: ignore[arg-type]
        if pieces.size >= HTTP_PIECE:
            yield pieces.take()
    if pieces.size:
        yield pieces.take()


def export_to_object(storage: Storage, plan: TablePlan, fmt: str, key: str) -> int:
    """Write the surveyed table as `fmt` to the storage object `key` (S3: multipart); the rows written."""
    with storage.open_write(key) as sink:
        return max(encode(read_batches(storage, plan), plan.schema or pa.schema([]), fmt, sink), default=0)
