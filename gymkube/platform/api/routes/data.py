"""Data: an experiment's tables streamed as CSV or Parquet, or exported to S3 behind a presigned URL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import StreamingResponse

from gymkube.platform.api.deps import Plane, ScopedExperiment
from gymkube.storage.backends import S3Storage, Storage
from gymkube.storage.chunks import TABLES
from gymkube.storage.scan import ChunkError, TablePlan, survey
from gymkube.storage.stream import export_to_object, stream_plan

router = APIRouter(prefix="/api/v1/experiments", tags=["data"])

Table = Literal["steps", "episodes", "scenes", "sessions", "events", "screening", "frames"]
Format = Literal["csv", "parquet"]
MEDIA = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}
URL_EXPIRES_S = 3600


async def _in_thread(pieces: Iterator[bytes]) -> AsyncIterator[bytes]:
    # The storage SDKs block: pull each piece of the stream in a worker thread.
    sentinel = b""
    while piece := await asyncio.to_thread(next, pieces, sentinel):
        yield piece


async def _survey(storage: Storage, name: str, table: str) -> TablePlan:
    """The table's schema and size, read before the first byte is sent (a damaged chunk is a clear 500)."""
    try:
        return (await asyncio.to_thread(survey, storage, name, [table]))[table]
    except ChunkError as exc:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, str(exc)) from None


@router.get("/{name}/data/{table}")
async def download_table(
    record: ScopedExperiment, plane: Plane, table: Table, format: Format = "csv"
) -> StreamingResponse:
    """One table of the experiment, streamed chunk by chunk (rows in the order they were stored)."""
    plan = await _survey(plane.data_storage(record), record.name, table)
    return StreamingResponse(
        _in_thread(stream_plan(plane.data_storage(record), plan, format)),
        media_type=MEDIA[format],
        headers={
            "Content-Disposition": f'attachment; filename="{record.name}-{table}.{format}"',
            "X-Gymkube-Rows": str(plan.rows),
        },
    )


@router.get("/{name}/data/{table}/url")
async def presigned_table_url(
    record: ScopedExperiment, plane: Plane, table: Table, format: Format = "parquet"
) -> dict[str, Any]:
    """Export the table into the bucket (a multipart upload, streamed) and return a presigned download URL."""
    storage = plane.data_storage(record)
    if not isinstance(storage, S3Storage):
        raise HTTPException(status.HTTP_409_CONFLICT, "presigned URLs need S3 storage; download the table")
    plan = await _survey(storage, record.name, table)
    if not plan.rows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {table} rows yet")
    key = f"exports/{record.name}/{record.name}-{table}.{format}"
    rows = await asyncio.to_thread(export_to_object, storage, plan, format, key)
    return {
        "url": storage.presigned_url(key, URL_EXPIRES_S),
        "expires_s": URL_EXPIRES_S,
        "rows": rows,
        "tables": list(TABLES),
    }
