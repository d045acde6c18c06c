"""Exporting an experiment's chunks as one file per table (streamed), and reading them whole for checks."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from gymkube.progressbar import ProgressBar
from gymkube.storage.backends import Storage, open_storage
from gymkube.storage.chunks import TABLES
from gymkube.storage.scan import ChunkError, TablePlan, output_schema, read_batches, survey
from gymkube.storage.stream import encode

_SORT_KEYS = {
    "steps": ["session", "t_tick_ns", "step"],
    "episodes": ["session", "t_start_ns"],
    "scenes": ["session", "t_enter_ns"],
    "sessions": ["t_start_ns"],
    "events": ["session", "t_ns"],
    "screening": ["t_ns"],
    "frames": ["session", "t_drawn_client_ms"],
}

Progress = Callable[[TablePlan], ProgressBar]
"""Makes the progress bar of one table's export (its total is `plan.rows`)."""


@dataclass(frozen=True)
class ExportedTable:
    """One file an export wrote."""

    table: str
    path: Path
    rows: int
    bytes: int


def read_tables(
    storage: Storage, experiment: str, tables: tuple[str, ...] = TABLES, progress: Progress | None = None
) -> dict[str, pa.Table]:
    """Every table (of `tables`) of an experiment whole in memory, sorted, snapshots resolved (for checks and replays).

    Exports and downloads stream instead (`export_tables`, `stream.stream_plan`).
    """
    merged: dict[str, pa.Table] = {}
    for name, plan in survey(storage, experiment, tables).items():
        if not plan.rows:
            continue
        batches: list[pa.RecordBatch] = []
        with progress(plan) if progress else nullcontext() as bar:
            for batch in read_batches(storage, plan):
                batches.append(batch)
                if bar is not None:
                    bar.update(bar.done + batch.num_rows)
        table = pa.Table.from_batches(batches, output_schema(plan))
        keys_present = [k for k in _SORT_KEYS.get(name, []) if k in table.column_names]
        if keys_present:
            table = table.sort_by([(k, "ascending") for k in keys_present])
        merged[name] = table
    return merged


def export_tables(
    storage: Storage, experiment: str, out_dir: Path, fmt: str = "parquet", progress: Progress | None = None
) -> list[ExportedTable]:
    """Write `<experiment>-<table>.<fmt>` for every table with rows, streamed.

    Rows come in storage order (as flushed, so each session's rows are in time order). A file
    appears only complete: it is written under a temporary name and renamed at the end.

    Raises:
        LookupError: when the experiment has no data in this storage.
    """
    plans = [plan for plan in survey(storage, experiment, TABLES).values() if plan.rows]
    if not plans:
        raise LookupError(f"no data for experiment {experiment!r} in {storage.url}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for plan in plans:
        path = out_dir / f"{experiment}-{plan.table}.{fmt}"
        partial = path.with_name(f".{path.name}.part")
        rows = 0
        try:
            with open(partial, "wb") as sink, progress(plan) if progress else nullcontext() as bar:
                for rows in encode(read_batches(storage, plan), output_schema(plan), fmt, sink):
                    if bar is not None:
                        bar.update(rows)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
        written.append(ExportedTable(plan.table, path, rows, path.stat().st_size))
    return written


def export_experiment(
    experiment: str, storage_url: str | Path, out_dir: Path, fmt: str = "parquet", progress: Progress | None = None
) -> list[ExportedTable]:
    """`export_tables` for a storage URL or folder (the `gymkube export` command)."""
    try:
        return export_tables(open_storage(storage_url), experiment, out_dir, fmt, progress)
    except (LookupError, ChunkError) as exc:
        raise SystemExit(str(exc)) from None
