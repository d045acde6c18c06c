"""Feeding the dashboard's index: each experiment's new data chunks, taken as they appear in storage.

Chunk names start with the time they were written (ms since the epoch; storage/chunks.py), so a
pass lists only names newer than the newest chunk seen less `LOOKBACK_S`: chunks spooled through a
storage outage arrive late under older names. Every `FULL_LIST_S` a pass lists everything, for any
chunk later still. Only the `sessions`, `events` and `screening` tables are read, in place (ranged
reads on S3), and a pass takes at most `MAX_CHUNKS_PER_PASS` chunks so that one experiment catching
up does not hold the others back.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from gymkube.platform.dashboard.index import SESSION_COLUMNS, Index
from gymkube.storage.backends import Storage
from gymkube.storage.chunks import chunk_prefix
from gymkube.storage.scan import ChunkError, chunk_tables

log = logging.getLogger(__name__)

LOOKBACK_S = 120
FULL_LIST_S = 300.0
MAX_CHUNKS_PER_PASS = 400
READERS = 4
"""Chunks fetched at once (on S3 each is a GET or two)."""
COLUMNS = {
    "sessions": SESSION_COLUMNS,
    "events": ("participant", "t_ns", "kind", "detail"),
    "screening": ("participant", "t_ns", "problems"),
}


def read_chunk(storage: Storage, key: str) -> dict[str, list[dict[str, Any]]] | None:
    """The index's columns of one chunk's tables; None when the chunk vanished or is damaged (logged)."""
    try:
        with closing(storage.open_read(key)) as handle:
            rows: dict[str, list[dict[str, Any]]] = {}
            for table, parts in chunk_tables(key, handle, COLUMNS).items():
                for parquet in parts:
                    present = [c for c in COLUMNS[table] if c in parquet.schema_arrow.names]
                    part = parquet.read(columns=present, use_threads=False)
                    rows.setdefault(table, []).extend(part.to_pylist())
            return rows
    except KeyError:
        return None
    except ChunkError as exc:
        log.warning("the dashboard skips chunk %s: %s", key, exc)
        return None


def written_ms(key: str) -> int | None:
    """When a chunk was written, from its name (`<ms>-<pod>-<run>-<seq>.zip`)."""
    stamp = key.rpartition("/")[2][:13]
    return int(stamp) if len(stamp) == 13 and stamp.isdigit() else None


@dataclass
class TailState:
    """How far the index has read one experiment's chunks."""

    known: set[str] | None = None
    newest_ms: int = 0
    full_at: float = 0.0
    behind: int = 0
    """Chunks listed but not yet taken (the next passes take them)."""
    last_pass: float = field(default_factory=time.time)


class Tailer:
    """Takes new chunks of each experiment into the index; `take_new` blocks (run it in a thread)."""

    def __init__(self, index: Index) -> None:
        self.index = index
        self.states: dict[str, TailState] = {}
        self._readers = ThreadPoolExecutor(READERS, thread_name_prefix="dashboard-read")

    def close(self) -> None:
        """Stop the readers."""
        self._readers.shutdown(cancel_futures=True)

    def take_new(self, experiment: str, storage: Storage) -> int:
        """One pass over `experiment`'s new chunks; how many were taken."""
        state = self.states.setdefault(experiment, TailState())
        if state.known is None:
            state.known = self.index.known_chunks(experiment)
        prefix = chunk_prefix(experiment)
        full = time.monotonic() - state.full_at >= FULL_LIST_S
        after = "" if full or not state.newest_ms else f"{prefix}{max(0, state.newest_ms - LOOKBACK_S * 1000):013d}"
        new = [k for k in storage.iter_keys(prefix, after) if k.endswith(".zip") and k not in state.known]
        if full:
            state.full_at = time.monotonic()
        batch, state.behind = new[:MAX_CHUNKS_PER_PASS], max(0, len(new) - MAX_CHUNKS_PER_PASS)
        taken = 0
        for key, rows in zip(batch, self._readers.map(lambda k: read_chunk(storage, k), batch), strict=True):
            if rows is not None and self.index.ingest(experiment, key, rows):
                taken += 1
            state.known.add(key)
            state.newest_ms = max(state.newest_ms, written_ms(key) or 0)
        state.last_pass = time.time()
        if taken:  # Arrow keeps freed buffers for reuse; a catch-up must not leave them to the next export
            pa.default_memory_pool().release_unused()
        return taken
