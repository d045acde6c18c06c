"""The data writer: rows buffer in memory, are spooled to local disk and flushed as chunks.

Every flush (each second, and at once when an episode ends) turns all of the pod's new rows
into ONE chunk object: a zip (stored, not compressed) holding one Parquet file per table. The
chunk is written to the local spool first (fsynced), then uploaded; when storage is down the
spool keeps it and the upload is retried, so rows survive an outage of the backend.

A row that cannot be encoded (a value Arrow or Parquet cannot hold) never costs the others: it
is found by bisection, left out of its table and quarantined: an `events` row (kind
`quarantined`) names its participant, its table and why, and the chunk's `quarantine.jsonl`
keeps a bounded copy of it. The writer's loop is supervised (`keep_running`): if it dies it is
logged and restarted, `ready` is False until a flush succeeds again, and no row taken from the
buffer is dropped on an exception (they go back to the buffer).
"""

from __future__ import annotations

import asyncio
import errno
import io
import logging
import os
import shutil
import time
import uuid
import zipfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from gymkube.storage.backends import Storage
from gymkube.storage.tables import (
    MAX_KEPT_PER_CHUNK,
    GiveWay,
    Pause,
    Quarantined,
    concat_lenient,
    encode_table,
    no_pause,
)

log = logging.getLogger(__name__)

TABLES = ("steps", "episodes", "scenes", "sessions", "events", "screening", "frames")
QUARANTINE_FILE = "quarantine.jsonl"


class WriterObserver(Protocol):
    """Who watches a writer (the game pod's metrics); a failing observer is logged and never stops a write."""

    def flushed(self, rows: dict[str, list[dict[str, Any]]], seconds: float) -> None:
        """These rows are in a chunk now, which took `seconds` to encode and spool (called in a worker thread)."""

    def uploaded(self, seconds: float) -> None:
        """One spooled chunk reached storage in `seconds`."""

    def failed(self, stage: str) -> None:
        """Writing the spool (`spool`) or uploading a chunk (`upload`) failed."""


def chunk_prefix(experiment: str) -> str:
    """Where an experiment's chunks live in storage."""
    return f"experiments/{experiment}/chunks/"


def encode_chunk(rows: dict[str, list[dict[str, Any]]], pause: Pause = no_pause) -> tuple[bytes, list[Quarantined]]:
    """One zip holding `<table>.parquet` for every table that has rows, and the rows quarantined on the way.

    Quarantined rows are left out of their table, named in `events` and kept (bounded) in `quarantine.jsonl`.
    `pause` is called between pieces of the work (see `GiveWay`).
    """
    buffer = io.BytesIO()
    quarantined: list[Quarantined] = []
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:

        def write(table: str, table_rows: list[dict[str, Any]], part: str = "") -> None:
            files, bad = encode_table(table, table_rows, pause)
            for index, data in enumerate(files):
                archive.writestr(f"{table}{part}{f'.{index}' if index else ''}.parquet", data)
            quarantined.extend(bad)

        for table, table_rows in rows.items():
            if table != "events" and table_rows:
                write(table, table_rows)
        events = rows.get("events", []) + [q.notice() for q in quarantined]  # events last: it takes the notices
        if events:
            write("events", events)
        own = [q.notice() for q in quarantined if q.table == "events"]  # events rows that were quarantined
        if own:
            write("events", own, ".notices")
        if quarantined:
            archive.writestr(QUARANTINE_FILE, "\n".join(q.kept() for q in quarantined[:MAX_KEPT_PER_CHUNK]) + "\n")
    return buffer.getvalue(), quarantined


def decode_chunk(data: bytes) -> dict[str, pa.Table]:
    """The tables inside one chunk (a table written in several parts comes back as one)."""
    parts: dict[str, list[pa.Table]] = {}
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if name.endswith(".parquet"):
                table = name.split(".", 1)[0]
                parts.setdefault(table, []).append(pq.read_table(io.BytesIO(archive.read(name))))
    return {table: tables[0] if len(tables) == 1 else concat_lenient(tables) for table, tables in parts.items()}


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
        self.failure: str | None = None
        """Why the flush loop died (it is restarted), until a flush succeeds again; None while all is well."""
        self.restarts = 0
        self.rows_quarantined = 0
        self.observer: WriterObserver | None = None
        self.give_way = GiveWay(when=lambda: False)
        """How the encoding thread gives way to the event loop (tables.py); a game pod sets it to while games play."""

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

    @property
    def ready(self) -> bool:
        """Whether the writer writes: its loop is not dead or restarting after a failure."""
        return self.failure is None

    async def keep_running(self, flush_first: bool = False, restart_delay_s: float = 1.0) -> None:
        """`run` (after a first flush of what an earlier process left in the spool), restarted whenever it dies.

        A death is logged; `ready` is False from then until a flush succeeds again. Cancelling stops it.
        """
        while True:
            try:
                if flush_first:
                    await self.flush()
                await self.run()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # anything else: the rows are back in the buffer, try again
                self.failure = f"the data writer stopped ({type(exc).__name__}: {exc}); restarting"[:500]
                self.restarts += 1
                log.exception("the data writer stopped; restarting it in %.1f s (no row is lost)", restart_delay_s)
                await asyncio.sleep(restart_delay_s)
                flush_first = True

    async def run(self) -> None:
        """Flush every interval (or when asked, at most every `min_gap_s`) until cancelled (or a flush raises)."""
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
        """Spool the buffered rows as one chunk, then upload every spooled chunk.

        Raises what went wrong (the rows are back in the buffer then, in order, before any added meanwhile).
        """
        if self.before_flush is not None:
            try:
                await self.before_flush()
            except Exception:  # the rows matter more: write them anyway
                log.exception("the step before a flush failed; writing the rows anyway")
        async with self._lock:
            started = time.monotonic()
            rows, self._rows = self._rows, {t: [] for t in TABLES}
            count = sum(len(r) for r in rows.values())
            kept = False
            try:
                if count:
                    name, data = await asyncio.to_thread(self._encode, rows)
                    try:
                        await asyncio.to_thread(self._spool, name, data)
                    except OSError as exc:  # disk full, permissions: say so loudly; the rows must not be lost
                        self._spool_failed(exc)
                        if not await asyncio.to_thread(self._upload_direct, name, data):
                            return
                    else:
                        if self.spool_error is not None:
                            self._spool_recovered()
                    kept = True
                    self.rows_written += count
                    if self.observer is not None:  # counting the rows costs a pass over them: not on the loop
                        await asyncio.to_thread(self._observe, "flushed", rows, time.monotonic() - started)
                elif self.spool_error is not None and shutil.disk_usage(self.spool_dir).free >= self.headroom_bytes:
                    self._spool_recovered()  # nothing to write, but room again: say so before the next rows
                await asyncio.to_thread(self._upload_spooled)
            finally:
                if not kept and count:
                    self._restore(rows)
        if self.failure is not None:
            log.info("the data writer writes again")
            self.failure = None

    def _observe(self, what: str, *args: Any) -> None:
        if self.observer is None:
            return
        try:
            getattr(self.observer, what)(*args)
        except Exception:
            log.exception("the writer's observer failed (%s); writing goes on", what)

    def _spool_failed(self, exc: OSError) -> None:
        self._observe("failed", "spool")
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
        self.give_way.start()
        data, quarantined = encode_chunk(rows, self.give_way)
        if quarantined:
            self.rows_quarantined += len(quarantined)
            for q in quarantined[:10]:
                log.error("quarantined a %s row of %s: %s", q.table, q.row.get("participant"), q.why)
        return name, data

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
            started = time.monotonic()
            try:
                self.storage.put(chunk_prefix(self.experiment) + path.name, path.read_bytes())
            except Exception as exc:
                self._observe("failed", "upload")
                if self.last_error is None:
                    log.warning("storage unavailable, keeping chunks in the spool: %s", exc)
                self.last_error = f"upload failed: {exc}"
                return
            path.unlink()
            self.chunks_uploaded += 1
            self._observe("uploaded", time.monotonic() - started)
            if self.last_error:
                log.info("storage reachable again; spooled chunks are being uploaded")
            self.last_error = None

    async def close(self, attempts: int = 5) -> None:
        """Final flush (after the loop's own, if one is under way); retry uploads so a brief outage loses nothing."""
        if self._flushing is not None:
            await asyncio.gather(self._flushing, return_exceptions=True)
        for attempt in range(attempts):
            try:
                await self.flush()
            except Exception:
                log.exception("a final flush failed (attempt %d of %d)", attempt + 1, attempts)
            if not self.spooled_chunks and not self.pending_rows:
                return
            await asyncio.sleep(min(2.0, 0.2 * 2**attempt))
        log.error(
            "%d chunk(s) could not be uploaded and remain in %s; they are uploaded at next start",
            self.spooled_chunks,
            self.spool_dir,
        )
