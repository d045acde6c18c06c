"""Rows to Arrow tables and Parquet, leniently: mixed types become text, rows that cannot be encoded are quarantined.

Chunks (chunks.py) and exports read and write tables through these. A row holding a value Arrow
or Parquet cannot take (an int beyond 64 bits, a map with no keys, text that is not Unicode)
never costs the other rows: `encode_table` finds it by bisection and returns it apart, as
`Quarantined`, for the chunk to name in its `events` and keep a bounded copy of.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import reprlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from gymkube.storage.schemas import conform, lenient_schema

log = logging.getLogger(__name__)

MAX_KEPT_PER_CHUNK = 100
"""Quarantined rows whose copy a chunk keeps (each cut to `MAX_KEPT_CHARS`); the events rows name them all."""
MAX_KEPT_CHARS = 8192
ID_COLUMNS = ("experiment", "participant", "session")
_KEEP = reprlib.Repr()  # bounded in depth and size, whatever the row holds
_KEEP.maxlevel, _KEEP.maxdict, _KEEP.maxlist, _KEEP.maxstring, _KEEP.maxother, _KEEP.maxlong = 6, 64, 64, 2000, 200, 80


def _column(values: list[Any]) -> pa.Array:
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        # Values that disagree in type (a number here, text there) are kept, as text.
        return pa.array(
            [None if v is None else v if isinstance(v, str) else json.dumps(v, default=str) for v in values],
            pa.string(),
        )


Pause = Callable[[], None]
"""Called between pieces of encoding work (a column, a table), so a background encoder can give way."""


def no_pause() -> None:
    """The `Pause` of encoding that never gives way (exports, the control plane, a pod with no game)."""


class GiveWay:
    """A `Pause` that makes background encoding give way to the process's other threads.

    A game pod encodes its rows in a thread beside the event loop, on the same core: one flush of
    a second's rows at 300 sessions is ~70 ms of work (Arrow conversion holding the GIL, Parquet),
    which stalled every game's tick for its length. After each piece of work (one column, one
    table) the encoder sleeps `ratio` times as long as the piece took, so it takes at most
    1 / (1 + ratio) of the core and the loop is held up by one piece at a time.
    """

    def __init__(self, ratio: float = 2.0, max_sleep_s: float = 0.02, when: Callable[[], bool] = lambda: True) -> None:
        self.ratio, self.max_sleep_s = ratio, max_sleep_s
        self.when = when
        """Give way only while this says so (a pod: while games are stepped); otherwise encode at full speed."""
        self.mark = time.perf_counter()

    def start(self) -> None:
        """Encoding starts now (what came before is not work to give way for)."""
        self.mark = time.perf_counter()

    def __call__(self) -> None:
        worked = time.perf_counter() - self.mark
        pause = min(worked * self.ratio, self.max_sleep_s)
        if pause > 0 and self.when():
            time.sleep(pause)
        self.mark = time.perf_counter()


def rows_to_table(rows: list[dict[str, Any]], pause: Pause = no_pause) -> pa.Table:
    """A table from row dicts with every column any row has; a column whose values disagree in type becomes text.

    (`pa.Table.from_pylist` takes its columns from the first row alone: a column only later rows
    have, such as an info key an environment adds at the last step, would be lost.)
    """
    names = dict.fromkeys(itertools.chain.from_iterable(rows))
    columns = {}
    for name in names:
        columns[name] = _column([row.get(name) for row in rows])
        pause()
    return pa.table(columns)


def concat_lenient(tables: list[pa.Table]) -> pa.Table:
    """Tables from many chunks as one, whatever columns and types each had."""
    schema = lenient_schema([t.schema for t in tables])
    return pa.concat_tables([conform(t, schema) for t in tables])


@dataclass
class Quarantined:
    """A row left out of its chunk because it could not be encoded."""

    table: str
    row: dict[str, Any]
    why: str

    def notice(self) -> dict[str, Any]:
        """The `events` row that says so (its values are plain, so it always encodes)."""
        ids = {k: v[:200] if isinstance(v := self.row.get(k), str) else None for k in ID_COLUMNS}
        return {**ids, "t_ns": time.time_ns(), "kind": "quarantined",
                "detail": json.dumps({"table": self.table, "why": self.why})}  # fmt: skip

    def kept(self) -> str:
        """A bounded copy of the row, as one line of the chunk's quarantine file."""
        return json.dumps({"table": self.table, "why": self.why, "row": _KEEP.repr(self.row)[:MAX_KEPT_CHARS]})


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def _encodable_parts(name: str, rows: list[dict[str, Any]], parts: list[pa.Table], bad: list[Quarantined]) -> None:
    """Bisect `rows` into tables that encode, and the single rows that do not."""
    try:
        table = rows_to_table(rows)
        _parquet(table)  # some values only fail when written (an empty map: a struct without fields)
        parts.append(table)
    except Exception as exc:  # whatever the value, the other rows are kept
        if len(rows) == 1:
            bad.append(Quarantined(name, rows[0], f"{type(exc).__name__}: {exc}"[:300]))
            return
        middle = len(rows) // 2
        _encodable_parts(name, rows[:middle], parts, bad)
        _encodable_parts(name, rows[middle:], parts, bad)


def encode_table(
    name: str, rows: list[dict[str, Any]], pause: Pause = no_pause
) -> tuple[list[bytes], list[Quarantined]]:
    """One table's rows as Parquet (one file; several if its encodable parts do not merge), and the rows left out."""
    try:
        table = rows_to_table(rows, pause)
        data = _parquet(table)
        pause()
        return [data], []
    except Exception:
        log.warning("a %s row cannot be encoded; finding it (the other rows are kept)", name)
    parts: list[pa.Table] = []
    bad: list[Quarantined] = []
    _encodable_parts(name, rows, parts, bad)
    if not parts:
        return [], bad
    try:
        return [_parquet(concat_lenient(parts))], bad
    except Exception:
        return [_parquet(part) for part in parts], bad


def json_column(text: Any) -> dict[str, Any]:
    """A stored JSON-object column (events' `detail`, episodes' `p2p`) as a dict; {} for anything else."""
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
