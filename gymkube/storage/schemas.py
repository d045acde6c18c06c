"""Reconciling the columns of chunks written at different times: one schema, and rows conformed to it.

Chunks of one table need not agree: a later chunk may add a column (a new `info_*` key), leave
one out, or type it differently (an integer in one chunk, a float or a text in another). The
table's schema keeps every column; each column takes the type its chunks promote to (integer
and float make a float, a type and null make that type) and, when they cannot (a number here,
text there), text. Each column is settled on its own, so one conflicting column does not turn
others into text.
"""

from __future__ import annotations

import json

import pyarrow as pa


def lenient_schema(schemas: list[pa.Schema]) -> pa.Schema:
    """One schema for tables from different chunks; a column whose types cannot be promoted becomes text."""
    try:
        return pa.unify_schemas(schemas, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        pass
    fields: dict[str, list[pa.Field]] = {}
    for schema in schemas:
        for column in schema:
            fields.setdefault(column.name, []).append(column)
    settled = []
    for name, variants in fields.items():
        try:
            unified = pa.unify_schemas([pa.schema([f]) for f in variants], promote_options="permissive")
            settled.append(unified.field(0))
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            settled.append(pa.field(name, pa.string()))
    return pa.schema(settled)


def _cast(column: pa.ChunkedArray, target: pa.DataType) -> pa.ChunkedArray | pa.Array:
    """A column as `target`; what Arrow cannot cast to text (maps, lists, structs) becomes JSON text."""
    try:
        return column.cast(target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        if target != pa.string():
            raise
        text = [v if v is None or isinstance(v, str) else json.dumps(v, default=str) for v in column.to_pylist()]
        return pa.array(text, pa.string())


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """The table with exactly `schema`'s columns: missing ones null, others cast."""
    columns = [
        _cast(table.column(f.name), f.type) if f.name in table.column_names else pa.nulls(table.num_rows, f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(columns, schema=schema)
