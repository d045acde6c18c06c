"""A large synthetic study written straight into storage as data chunks, fast, for export tests and benchmarks.

The chunks have the layout the pods' DataWriter writes (a stored zip of one zstd Parquet file
per table, named `<ms>-<pod>-<run>-<seq>.zip`), built with vectorised Arrow instead of row dicts
so millions of step rows take seconds. Columns vary between chunks the way real ones do, so an
export must reconcile them: `info_score` is a number in most chunks and text in every fifth
(it becomes text), `info_level` is an integer in odd chunks and a float in even ones (a float),
`input_frame_agent` is missing from every third chunk (empty there), and `info_flag` is all
null in some chunks and a bool in others. Every chunk also holds a snapshot of each session it
touches (`sessions`), so exactly one newest snapshot per session must come out.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gymkube.storage.backends import Storage
from gymkube.storage.chunks import chunk_prefix

T0_NS = 1_700_000_000_000_000_000


@dataclass(frozen=True)
class Study:
    """What was written: enough to check an export without reading it back whole."""

    experiment: str
    steps: int
    chunks: int
    sessions: int
    episodes: int


def _chunk(tables: dict[str, pa.Table]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, table in tables.items():
            sink = io.BytesIO()
            pq.write_table(table, sink, compression="zstd")
            archive.writestr(f"{name}.parquet", sink.getvalue())
    return buffer.getvalue()


def _steps(index: int, first_row: int, rows: int, sessions: int, rng: np.random.Generator) -> pa.Table:
    row = np.arange(first_row, first_row + rows, dtype=np.int64)
    session = row % sessions
    names = pa.array([f"s{i:06d}" for i in range(sessions)])
    ids = pa.array(session)
    tick = T0_NS + row * 33_333_333
    columns: dict[str, pa.Array] = {
        "experiment": pa.array(np.full(rows, "big"), pa.string()),
        "participant": pc.take(pa.array([f"p{i:06d}" for i in range(sessions)]), ids),
        "session": pc.take(names, ids),
        "scene": pa.array(np.full(rows, "play"), pa.string()),
        "game": pc.take(pa.array([f"g{i:08d}" for i in range(sessions)]), ids),
        "episode": pa.array(1 + (row // sessions) // 500),
        "step": pa.array((row // sessions) % 500 + 1),
        "t_planned_ns": pa.array(tick),
        "t_tick_ns": pa.array(tick + rng.integers(0, 2_000_000, rows)),
        "input_seq_agent": pa.array(row // sessions),
        "input_recv_ns": pa.array(tick - 5_000_000),
        "input_client_ms": pa.array(tick / 1e6 - 7.0),
        "action_agent": pa.array(rng.integers(0, 2, rows)),
        "source_agent": pc.take(pa.array(["human", "default"]), pa.array(rng.integers(0, 2, rows))),
        "reward": pa.array(np.ones(rows)),
        "terminated": pa.array(np.zeros(rows, dtype=bool)),
        "truncated": pa.array(np.zeros(rows, dtype=bool)),
        "obs_hash": pc.cast(pa.array(row * 2_654_435_761 % (1 << 61)), pa.string()),
    }
    score = rng.random(rows)
    columns["info_score"] = pc.cast(pa.array(score), pa.string()) if index % 5 == 0 else pa.array(score)
    level = (row // sessions) % 7
    columns["info_level"] = pa.array(level if index % 2 else level.astype(np.float64))
    if index % 3:
        columns["input_frame_agent"] = pa.array(row // sessions)
    columns["info_flag"] = pa.nulls(rows) if index % 4 == 0 else pa.array(row % 2 == 0)
    return pa.table(columns)


def _sessions(index: int, touched: np.ndarray, last: bool) -> pa.Table:
    count = len(touched)
    return pa.table(
        {
            "session": pa.array([f"s{i:06d}" for i in touched]),
            "participant": pa.array([f"p{i:06d}" for i in touched]),
            "t_start_ns": pa.array(T0_NS + touched),
            "updated_ns": pa.array(np.full(count, T0_NS + index * 1_000_000_000)),
            "status": pa.array(["completed" if last else "active"] * count),
            "completion_code": pa.array([f"C{i:06d}" if last else None for i in touched], pa.string()),
        }
    )


def write_study(
    storage: Storage, experiment: str, steps: int, rows_per_chunk: int = 10_000, sessions: int = 200, seed: int = 0
) -> Study:
    """Write `steps` step rows in chunks of `rows_per_chunk`, with sessions, episodes and events."""
    rng = np.random.default_rng(seed)
    prefix = chunk_prefix(experiment)
    chunks = -(-steps // rows_per_chunk)
    episodes = 0
    for index in range(chunks):
        first = index * rows_per_chunk
        rows = min(rows_per_chunk, steps - first)
        step_table = _steps(index, first, rows, sessions, rng)
        touched = np.unique(np.arange(first, first + rows) % sessions)
        ended = touched[: 2 if index % 10 == 9 else 0]
        episodes += len(ended)
        tables = {
            "steps": step_table,
            "sessions": _sessions(index, touched, last=index == chunks - 1),
            "events": pa.table({"session": [f"s{touched[0]:06d}"], "t_ns": [T0_NS + index], "kind": ["connect"]}),
        }
        if len(ended):
            episode_rows = {"session": [f"s{i:06d}" for i in ended], "episode": [index] * len(ended)}
            tables["episodes"] = pa.table({**episode_rows, "status": ["terminated"] * len(ended)})
        key = f"{prefix}{1_700_000_000_000 + index * 1000:013d}-big-0-run000-{index:06d}.zip"
        storage.put(key, _chunk(tables))
    return Study(experiment, steps, chunks, min(sessions, steps), episodes)
