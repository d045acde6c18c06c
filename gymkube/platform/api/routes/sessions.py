"""Sessions: each participant's progress in one experiment, read from storage a page at a time."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

from fastapi import APIRouter, Request, Response

from gymkube.game_pod.progress import Progress
from gymkube.platform.api.deps import Plane, ScopedExperiment
from gymkube.platform.api.pagination import PageRequest, link_next, paged
from gymkube.storage.backends import Storage

router = APIRouter(prefix="/api/v1/experiments", tags=["sessions"])
log = logging.getLogger(__name__)

READERS = 8
"""Progress objects fetched at once (on S3 each is a GET)."""


def _session_row(storage: Storage, key: str) -> dict[str, Any] | None:
    participant = key.rpartition("/")[2].removesuffix(".json")
    try:
        progress = Progress.from_json(storage.get(key))
        return {
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
    except KeyError:  # gone since it was listed
        return None
    except (ValueError, TypeError, AttributeError, IndexError) as exc:
        log.warning("progress of %s in %s cannot be read: %s", participant, key, exc)
        return {"participant": participant, "status": "unreadable"}


@router.get("/{name}/sessions")
async def list_sessions(
    record: ScopedExperiment,
    plane: Plane,
    page: Annotated[PageRequest, paged("sessions")],
    request: Request,
    response: Response,
) -> dict[str, Any]:
    """Participants' progress (scene, status, completion code) by participant id, `limit` at a time."""
    storage = plane.data_storage(record)
    prefix = f"experiments/{record.name}/progress/"

    def read() -> tuple[list[dict[str, Any]], str | None]:
        listing = storage.iter_keys(prefix, prefix + page.after if page.after else "")
        keys, cursor = page.take(listing, lambda key: key.removeprefix(prefix))
        with ThreadPoolExecutor(READERS) as pool:
            rows = [row for row in pool.map(lambda key: _session_row(storage, key), keys) if row is not None]
        return rows, cursor

    rows, cursor = await asyncio.to_thread(read)
    link_next(request, response, cursor)
    return {"sessions": rows, "next": cursor}
