"""Data: an experiment's tables streamed as CSV or Parquet, or a presigned S3 URL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import StreamingResponse

from gymkube.platform.api.deps import Plane, ScopedExperiment
from gymkube.storage.backends import S3Storage
from gymkube.storage.chunks import TABLES
from gymkube.storage.export import export_tables
from gymkube.storage.stream import stream_table

router = APIRouter(prefix="/api/v1/experiments", tags=["data"])

Table = Literal["steps", "episodes", "scenes", "sessions", "events", "screening", "frames"]
Format = Literal["csv", "parquet"]
MEDIA = {"csv": "text/csv", "parquet": "application/vnd.apache.parquet"}


async def _in_thread(chunks: Any) -> AsyncIterator[bytes]:
    # The storage SDKs block: pull each piece of the stream in a worker thread.
    sentinel = object()
    while (piece := await asyncio.to_thread(next, chunks, sentinel)) is not sentinel:
        yield piece  # type: ignore[misc]


@router.get("/{name}/data/{table}")
async def download_table(
    record: ScopedExperiment, plane: Plane, table: Table, format: Format = "csv"
) -> StreamingResponse:
    """One table of the experiment, streamed (rows in the order they were flushed)."""
    chunks = stream_table(plane.storage, record.name, table, format)
    return StreamingResponse(
        _in_thread(chunks),
        media_type=MEDIA[format],
        headers={"Content-Disposition": f'attachment; filename="{record.name}-{table}.{format}"'},
    )


@router.get("/{name}/data/{table}/url")
async def presigned_table_url(
    record: ScopedExperiment, plane: Plane, table: Table, format: Format = "parquet"
) -> dict[str, Any]:
    """Export the table into the bucket and return a presigned download URL (S3 storage only)."""
    storage = plane.storage
    if not isinstance(storage, S3Storage):
        raise HTTPException(status.HTTP_409_CONFLICT, "presigned URLs need S3 storage; download the table")
    key = f"exports/{record.name}/{record.name}-{table}.{format}"

    def export() -> None:
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as folder:
            try:
                written = export_tables(storage, record.name, Path(folder), format)
            except LookupError:
                written = []
            for path in written:
                if path.name == f"{record.name}-{table}.{format}":
                    storage.put(key, path.read_bytes())
                    return
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {table} rows yet")

    await asyncio.to_thread(export)
    return {"url": storage.presigned_url(key), "expires_s": 3600, "tables": list(TABLES)}
