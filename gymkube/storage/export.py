"""Merging an experiment's chunks into one table per kind, as Parquet or CSV."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from gymkube.storage.backends import Storage, open_storage
from gymkube.storage.chunks import TABLES, concat_lenient, read_chunks

_SORT_KEYS = {
    "steps": ["session", "t_tick_ns", "step"],
    "episodes": ["session", "t_start_ns"],
    "scenes": ["session", "t_enter_ns"],
    "sessions": ["t_start_ns"],
    "events": ["session", "t_ns"],
    "screening": ["t_ns"],
    "frames": ["session", "t_drawn_client_ms"],
}


def _latest_session_rows(table: pa.Table) -> pa.Table:
    # Session rows are snapshots appended at every change; the newest one per session wins.
    latest: dict[str, dict[str, object]] = {}
    for row in table.sort_by([("updated_ns", "ascending")]).to_pylist():
        latest[str(row["session"])] = row
    return pa.Table.from_pylist(list(latest.values()), schema=table.schema)


def read_tables(storage: Storage, experiment: str) -> dict[str, pa.Table]:
    """Every table of an experiment, merged from all chunks, sorted, snapshots resolved."""
    parts: dict[str, list[pa.Table]] = {t: [] for t in TABLES}
    for chunk in read_chunks(storage, experiment):
        for name, table in chunk.items():
            parts.setdefault(name, []).append(table)
    merged: dict[str, pa.Table] = {}
    for name, tables in parts.items():
        if not tables:
            continue
        table = concat_lenient(tables)
        if name == "sessions":
            table = _latest_session_rows(table)
        keys_present = [k for k in _SORT_KEYS.get(name, []) if k in table.column_names]
        if keys_present:
            table = table.sort_by([(k, "ascending") for k in keys_present])
        merged[name] = table
    return merged


def export_tables(storage: Storage, experiment: str, out_dir: Path, fmt: str = "parquet") -> list[Path]:
    """Write `<experiment>-<table>.<fmt>` for every table with rows; return the paths.

    Raises:
        LookupError: when the experiment has no data in this storage.
    """
    tables = read_tables(storage, experiment)
    if not tables:
        raise LookupError(f"no data for experiment {experiment!r} in {storage.url}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in tables.items():
        path = out_dir / f"{experiment}-{name}.{fmt}"
        if fmt == "csv":
            pacsv.write_csv(table, path)
        else:
            pq.write_table(table, path, compression="zstd")
        written.append(path)
    return written


def export_experiment(experiment: str, storage_url: str | Path, out_dir: Path, fmt: str = "parquet") -> list[Path]:
    """`export_tables` for a storage URL or folder (the `gymkube export` command)."""
    try:
        return export_tables(open_storage(storage_url), experiment, out_dir, fmt)
    except LookupError as exc:
        raise SystemExit(str(exc)) from None
