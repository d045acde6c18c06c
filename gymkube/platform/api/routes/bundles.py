"""Bundles: an experiment's own files, uploaded as a zip and stored content-addressed."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status

from gymkube.platform.api.deps import CurrentResearcher, Plane
from gymkube.storage.bundles import BundleError, BundleLimits, store_bundle

router = APIRouter(prefix="/api/v1/bundles", tags=["bundles"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def upload_bundle(request: Request, plane: Plane, researcher: CurrentResearcher) -> dict[str, Any]:
    """Upload a zip; refer to it from a manifest as `spec.bundle: <digest>`."""
    limits = BundleLimits(max_compressed_bytes=plane.settings.max_upload_bytes)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limits.max_compressed_bytes:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "the bundle is larger than allowed")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limits.max_compressed_bytes:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "the bundle is larger than allowed")
    try:
        info = await asyncio.to_thread(store_bundle, plane.storage, bytes(body), limits)
    except BundleError as exc:
        raise HTTPException(exc.status, detail=str(exc)) from None
    return {
        "digest": info.digest,
        "files": info.files,
        "bytes": len(body),
        "uncompressed": info.uncompressed_bytes,
    }
