"""The data writer: rows buffer in memory, are spooled to local disk and flushed as chunks.

Every flush (each second, and at once when an episode ends) turns all of the pod's new rows
into ONE chunk object: a zip (stored, not compressed) holding one Parquet file per table. The
chunk is written to the local spool first (fsynced), then uploaded; when storage is down the
spool keeps it and the upload is retried, so rows survive an outage of the backend.
"""

from __future__ import annotations

import asyncio
import errno
import io
import json
import logging
import os
import shutil
import time
import uuid
import zipfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from gymkube.storage.backends import Storage

log = logging.getLogger(__name__)

TABLES = ("steps", "episodes", "scenes", "sessions", "events", "screening", "frames")


def chunk_prefix(experiment: str) -> str:
    """Where an experiment's chunks live in storage."""
    return f"experiments/{experiment}/chunks/"


def _column(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Values that disagree in type (a number here, text there) are kept, as text.
        return pa.array(
            [None if v is None else v if isinstance(v, str) else json.dumps(v, default=str) for v in values],
            pa.string(),
        )


def rows_to_table(rows: list[dict[str, Any]]) -> pa.Table:
    """A table from row dicts; a column whose values disagree in type becomes text."""
    try:
        return pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        names = list(dict.fromkeys(key for row in rows for key in row))
        return pa.table({name: _column([row.get(name) for row in rows]) for name in names})


def encode_chunk(rows: dict[str, list[dict[str, Any]]]) -> bytes:
    """One zip holding `<table>.parquet` for every table that has rows."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for table, table_rows in rows.items():
            if not table_rows:
                continue
            sink = io.BytesIO()
            pq.write_table(rows_to_table(table_rows), sink, compression="zstd")
            archive.writestr(f"{table}.parquet", sink.getvalue())
    return buffer.getvalue()


def decode_chunk(data: bytes) -> dict[str, pa.Table]:
    """The tables inside one chunk."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {
            name.removesuffix(".parquet"): pq.read_table(io.BytesIO(archive.read(name)))
            for name in archive.namelist()
            if name.endswith(".parquet")
        }


def read_chunks(storage: Storage, experiment: str) -> Iterator[dict[str, pa.Table]]:
    """The tables of each of an experiment's chunks, oldest chunk first, one chunk in memory at a time."""
    for key in storage.list(chunk_prefix(experiment)):
        yield decode_chunk(storage.get(key))


class DataWriter:
    """Buffers rows for one pod and flushes them as chunks through a local spool."""

    def __init__(
        self,
        storage: Storage,
        experiment: str,
        pod: str,
        spool_dir: Path,
        interval_s: float = 1.0,
        headroom_bytes: int = 4 << 20,
        min_gap_s: float = 0.25,
    ) -> None:
        self.storage = storage
        self.experiment = experiment
        self.pod = pod
        self.spool_dir = spool_dir
        self.interval_s = interval_s
        self.headroom_bytes = headroom_bytes
        """Below this much free space on the spool's disk, the spool counts as full (before writes fail)."""
        self.min_gap_s = min_gap_s
        """Flushes asked for (episode ends) come at most this often: many games ending together make one chunk."""
        self.before_flush: Callable[[], Awaitable[None]] | None = None
        """Run first in every flush (the pod saves pending progress, so it is stored before the rows that need it)."""
        self.spool_dir.mkdir(parents=True, exist_ok=True)
        self._run_id = uuid.uuid4().hex[:6]
        self._seq = 0
        self._rows: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
        self._wake = asyncio.Event()
        self._flushing: asyncio.Future[None] | None = None
        self._lock = asyncio.Lock()
        self.rows_written = 0
        self.chunks_uploaded = 0
        self.last_error: str | None = None
        self.spool_error: str | None = None
        """Why the spool cannot be written (disk full, permissions), or None while it can."""
        self.on_spool_error: Callable[[str | None], None] | None = None
        """Told when the spool stops (the reason) or starts again (None) being writable."""

    def add(self, table: str, row: dict[str, Any]) -> None:
        """Queue one row (hot path: an append)."""
        self._rows[table].append(row)

    def request_flush(self) -> None:
        """Flush soon (at an episode end) rather than at the next interval."""
        self._wake.set()

    @property
    def pending_rows(self) -> int:
        """Rows in memory that are not yet spooled."""
        return sum(len(rows) for rows in self._rows.values())

    @property
    def spooled_chunks(self) -> int:
        """Chunks on local disk that are not yet in storage."""
        return len(list(self.spool_dir.glob("*.zip")))

    async def run(self) -> None:
        """Flush every interval (or when asked, at most every `min_gap_s`) until cancelled."""
        last = time.monotonic()
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval_s)
            except TimeoutError:
                pass
            await asyncio.sleep(max(0.0, last + self.min_gap_s - time.monotonic()))
            self._wake.clear()
            # Cancelling this loop must not interrupt a flush: its rows are already out of the buffer.
            self._flushing = asyncio.ensure_future(self.flush())
            await asyncio.shield(self._flushing)
            last = time.monotonic()

    async def flush(self) -> None:
        """Spool the buffered rows as one chunk, then upload every spooled chunk."""
        if self.before_flush is not None:
            await self.before_flush()
        async with self._lock:
            rows, self._rows = self._rows, {t: [] for t in TABLES}
            count = sum(len(r) for r in rows.values())
            if count:
                name, data = await asyncio.to_thread(self._encode, rows)
                try:
                    await asyncio.to_thread(self._spool, name, data)
                except OSError as exc:  # disk full, permissions: say so loudly; the rows must not be lost
                    self._spool_failed(exc)
                    if not await asyncio.to_thread(self._upload_direct, name, data):
                        self._restore(rows)
                        return
                else:
                    if self.spool_error is not None:
                        self._spool_recovered()
                self.rows_written += count
            elif self.spool_error is not None and shutil.disk_usage(self.spool_dir).free >= self.headroom_bytes:
                self._spool_recovered()  # nothing to write, but room again: say so before the next rows
            await asyncio.to_thread(self._upload_spooled)

    def _spool_failed(self, exc: OSError) -> None:
        first = self.spool_error is None
        self.spool_error = f"cannot write the data spool in {self.spool_dir}: {exc.strerror or exc}"
        self.last_error = self.spool_error
        if first:
            log.error("%s; new rows go straight to storage while this lasts", self.spool_error)
            if self.on_spool_error is not None:
                self.on_spool_error(self.spool_error)

    def _spool_recovered(self) -> None:
        log.info("the data spool in %s is writable again", self.spool_dir)
        self.spool_error = None
        self.last_error = None
        if self.on_spool_error is not None:
            self.on_spool_error(None)

    def _restore(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        for table, table_rows in rows.items():
            self._rows[table][:0] = table_rows

    def _encode(self, rows: dict[str, list[dict[str, Any]]]) -> tuple[str, bytes]:
        self._seq += 1
        name = f"{time.time_ns() // 1_000_000:013d}-{self.pod}-{self._run_id}-{self._seq:06d}.zip"
        return name, encode_chunk(rows)

    def _spool(self, name: str, data: bytes) -> None:
        free = shutil.disk_usage(self.spool_dir).free
        if free - len(data) < self.headroom_bytes:
            raise OSError(
                errno.ENOSPC, f"No space left on device ({free >> 10} KiB free, {self.headroom_bytes >> 10} KiB kept)"
            )
        tmp = self.spool_dir / f".{name}.tmp"
        try:
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, self.spool_dir / name)
        except OSError:
            tmp.unlink(missing_ok=True)  # a partial file must not take the space the next try needs
            raise

    def _upload_direct(self, name: str, data: bytes) -> bool:
        """Put a chunk the spool could not take straight into storage; False when that fails too."""
        try:
            self.storage.put(chunk_prefix(self.experiment) + name, data)
        except Exception as exc:
            log.error("storage is unreachable too; the rows stay in memory until one of them works: %s", exc)
            return False
        self.chunks_uploaded += 1
        return True

    def _upload_spooled(self) -> None:
        for path in sorted(self.spool_dir.glob("*.zip")):
            try:
                self.storage.put(chunk_prefix(self.experiment) + path.name, path.read_bytes())
            except Exception as exc:
                if self.last_error is None:
                    log.warning("storage unavailable, keeping chunks in the spool: %s", exc)
                self.last_error = f"upload failed: {exc}"
                return
            path.unlink()
            self.chunks_uploaded += 1
            if self.last_error:
                log.info("storage reachable again; spooled chunks are being uploaded")
            self.last_error = None

    async def close(self, attempts: int = 5) -> None:
        """Final flush (after the loop's own, if one is under way); retry uploads so a brief outage loses nothing."""
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)
        for attempt in range(attempts):
            await self.flush()
            if not self.spooled_chunks and not self.pending_rows:
                return
            await asyncio.sleep(min(2.0, 0.2 * 2**attempt))
        log.error(
            "%d chunk(s) could not be uploaded and remain in %s; they are uploaded at next start",
            self.spooled_chunks,
            self.spool_dir,
        )
