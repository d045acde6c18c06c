"""An experiment's data in Python: `read` one table into pandas, or `scan` it lazily in batches.

    import gymkube.data
    steps = gymkube.data.read("cartpole", "steps", storage=".gymkube/storage")
    for batch in gymkube.data.scan("cartpole", "steps", storage="s3://bucket/prefix",
                                   columns=["session", "step", "reward"]):
        ...

Both read straight from the experiment's storage (a folder, or `s3://bucket/prefix` with the
endpoint and credentials from the environment as for `gymkube export`), chunk by chunk. The
rows are those a download or `gymkube export` gives: every chunk's rows in storage order,
columns reconciled across chunks, and for `sessions` the newest snapshot of each participant.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from gymkube.storage.backends import Storage, open_storage
from gymkube.storage.chunks import TABLES
from gymkube.storage.scan import TablePlan, output_schema, read_batches, survey

if TYPE_CHECKING:
    import pandas as pd

DEFAULT_STORAGE = ".gymkube/storage"
StorageLike = Storage | str | os.PathLike[str]


def _plan(name: str, table: str, storage: StorageLike) -> tuple[Storage, TablePlan]:
    if table not in TABLES:
        raise ValueError(f"no table {table!r}; the tables are {', '.join(TABLES)}")
    store = storage if isinstance(storage, Storage) else open_storage(os.fspath(storage))
    plan = survey(store, name, [table])[table]
    if not plan.chunks:
        raise LookupError(f"no data for experiment {name!r} in {store.url}")
    return store, plan


def scan(
    name: str,
    table: str,
    storage: StorageLike = DEFAULT_STORAGE,
    *,
    columns: list[str] | None = None,
    filter: pc.Expression | None = None,  # noqa: A002 - the name pyarrow uses
) -> pa.RecordBatchReader:
    """One table of an experiment as a lazy stream of Arrow record batches.

    Only the schema is read up front; rows are read chunk by chunk as the stream is consumed,
    and only the `columns` asked for. The reader works with pyarrow (`read_all()`,
    `read_pandas()`), Polars (`pl.from_arrow`) and DuckDB alike.

    Args:
        name: the experiment.
        table: one of steps, episodes, scenes, sessions, events, screening, frames.
        storage: a `Storage`, a folder, or `s3://bucket/prefix`.
        columns: the columns to read, in this order (default: all).
        filter: rows to keep, e.g. `pyarrow.compute.field("session") == "s1"`.

    Raises:
        ValueError: for an unknown table.
        KeyError: for a column the table does not have.
        LookupError: when the experiment has no data in that storage.
    """
    store, plan = _plan(name, table, storage)
    schema = output_schema(plan, columns)
    return pa.RecordBatchReader.from_batches(schema, read_batches(store, plan, columns, filter))


def read(
    name: str,
    table: str,
    storage: StorageLike = DEFAULT_STORAGE,
    *,
    columns: list[str] | None = None,
    filter: pc.Expression | None = None,  # noqa: A002 - the name pyarrow uses
) -> pd.DataFrame:
    """One table of an experiment as a pandas DataFrame (arguments as for `scan`)."""
    return scan(name, table, storage, columns=columns, filter=filter).read_pandas()
