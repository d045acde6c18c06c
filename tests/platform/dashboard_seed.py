"""Participants written straight into storage as data chunks, as game pods write them, for the dashboard's tests."""

from __future__ import annotations

import json
import time
from typing import Any

from gymkube.storage.backends import Storage
from gymkube.storage.chunks import chunk_prefix, encode_chunk

FLOW = ["consent", "instructions", "cartpole", "questionnaire", "end"]


def session_row(experiment: str, participant: str, index: int, status: str, t_ns: int, **extra: Any) -> dict[str, Any]:
    """A sessions-table snapshot of one participant at scene `index` of `FLOW`."""
    return {
        "experiment": experiment, "participant": participant, "session": f"s-{participant}", "ordinal": 0,
        "status": status, "scene_index": index, "scene": FLOW[index], "assignment": json.dumps(FLOW),
        "completion_code": f"CODE{participant.upper()}" if status != "active" else None,
        "end_reason": extra.pop("end_reason", None), "latency_ms": json.dumps([20.0, 30.0, 40.0]),
        "t_start_ns": t_ns, "t_end_ns": t_ns + 60 * 10**9 if status != "active" else None, "updated_ns": t_ns,
        "pod": "cartpole-0", "client_errors": 0, "drops": 0, "connects": 1, **extra,
    }  # fmt: skip


def event_row(experiment: str, participant: str, kind: str, t_ns: int, **detail: Any) -> dict[str, Any]:
    """An events-table row."""
    return {"experiment": experiment, "participant": participant, "session": f"s-{participant}", "t_ns": t_ns,
            "kind": kind, "detail": json.dumps(detail)}  # fmt: skip


def put_chunk(storage: Storage, experiment: str, rows: dict[str, list[dict[str, Any]]], ms: int, seq: int) -> str:
    """Store one chunk named as a pod names them (`<ms>-<pod>-<run>-<seq>.zip`); its key."""
    data, quarantined = encode_chunk(rows)
    assert not quarantined
    key = f"{chunk_prefix(experiment)}{ms:013d}-seed-0-{seq:06d}.zip"
    storage.put(key, data)
    return key


def seed_participants(storage: Storage, experiment: str, count: int, per_chunk: int = 2000) -> list[str]:
    """`count` participants who entered over the last hour: a third completed, a few ended, the rest away mid-study.

    Their ids are `seed-000000`...; returns them.
    """
    now_ns = time.time_ns()
    ids = [f"seed-{i:06d}" for i in range(count)]
    for chunk, first in enumerate(range(0, count, per_chunk)):
        sessions, events = [], []
        for i in range(first, min(count, first + per_chunk)):
            t_ns = now_ns - 3600 * 10**9 + i * (3600 * 10**9 // count)
            if i % 3 == 0:
                sessions.append(session_row(experiment, ids[i], 4, "completed", t_ns))
            elif i % 50 == 1:
                sessions.append(session_row(experiment, ids[i], 2, "ended", t_ns, end_reason="dropped"))
            else:
                sessions.append(session_row(experiment, ids[i], i % 4, "active", t_ns))
            events += [
                event_row(experiment, ids[i], "connect", t_ns),
                event_row(experiment, ids[i], "disconnect", t_ns + 1),
            ]
        put_chunk(
            storage, experiment, {"sessions": sessions, "events": events}, now_ns // 10**6 - 10_000 + chunk, chunk
        )
    return ids
