"""Sessions: each participant's progress in one experiment, read from storage."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Query

from gymkube.game_pod.progress import Progress
from gymkube.platform.api.deps import Plane, ScopedExperiment

router = APIRouter(prefix="/api/v1/experiments", tags=["sessions"])


@router.get("/{name}/sessions")
async def list_sessions(
    record: ScopedExperiment,
    plane: Plane,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> dict[str, Any]:
    """Participants' progress: scene, status and completion code, newest first."""
    storage = plane.storage

    def started(row: dict[str, Any]) -> float:
        return float(row["started"])

    def read() -> tuple[int, list[dict[str, Any]]]:
        keys = storage.list(f"experiments/{record.name}/progress/")
        rows = []
        for key in keys:
            progress = Progress(**json.loads(storage.get(key)))
            rows.append(
                {
                    "participant": progress.participant,
                    "session": progress.session,
                    "status": progress.status,
                    "scene": progress.current,
                    "sceneIndex": progress.index,
                    "scenes": len(progress.flow),
                    "completionCode": progress.completion_code,
                    "started": progress.t_start_ns / 1e9,
                    "ended": progress.t_end_ns / 1e9 if progress.t_end_ns else None,
                }
            )
        rows.sort(key=started, reverse=True)
        return len(rows), rows[offset : offset + limit]

    total, rows = await asyncio.to_thread(read)
    return {"total": total, "sessions": rows}
