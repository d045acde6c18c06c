"""Streaming one table of an experiment out of its chunks, chunk by chunk, as CSV or Parquet.

The whole table is never held in memory: a first pass reads only schemas to agree on the
columns, a second pass converts and yields each chunk's rows. Rows come in chunk order (the
order they were flushed); `gymkube export` sorts.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gymkube.storage.backends import Storage
from gymkube.storage.chunks import conform, lenient_schema, read_chunks
from gymkube.storage.export import read_tables


class _Sink:
    """A write-only file that hands out what was written since the last take()."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def _tables(storage: Storage, experiment: str, table: str) -> Iterator[pa.Table]:
    for chunk in read_chunks(storage, experiment):
        part = chunk.get(table)
        if part is not None and part.num_rows:
            yield part


def stream_table(storage: Storage, experiment: str, table: str, fmt: str) -> Iterator[bytes]:
    """Bytes of `table` as `fmt` (csv or parquet); empty output when there are no rows."""
    if table == "sessions":  # snapshots resolve to the newest per session: small, done whole
        parts: Iterator[pa.Table] = iter([t] if (t := read_tables(storage, experiment).get(table)) else [])
        schema = None
    else:
        schemas = [part.schema for part in _tables(storage, experiment, table)]
        schema = lenient_schema(schemas) if schemas else None
        parts = _tables(storage, experiment, table)
    sink = _Sink()
    writer: pq.ParquetWriter | pacsv.CSVWriter | None = None
    for part in parts:
        if schema is None:
            schema = part.schema
        part = conform(part, schema)
        if writer is None:
            writer = (
                pq.ParquetWriter(sink, schema, compression="zstd")
                if fmt == "parquet"
                else pacsv.CSVWriter(sink, schema)
            )
        writer.write_table(part)
        yield sink.take()
    if writer is not None:
        writer.close()
        yield sink.take()
