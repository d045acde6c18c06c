"""What the dashboard asks its index: the funnel, a page of participants, a timeline, errors, groups, plots.

Every query is bounded by an index of `participants` or `events` and a LIMIT, so its cost does not
grow with the study past what one page needs; counts and plots aggregate in SQLite.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from gymkube.platform.dashboard.index import Index
from gymkube.storage.tables import json_column
from gymkube.tokens import is_participant_id

STATES = ("here", "waiting", "away", "completed", "ended")
PAGE_COLUMNS = ("participant", "state", "scene", "scene_index", "scenes", "t_start_ns", "updated_ns", "pod",
                "latency_ms", "drops", "client_errors", "completion_code", "end_reason", "waiting_scene",
                "waiting_since_ns", "wait_s")  # fmt: skip
LATENCY_BOUNDS_MS = (25, 50, 75, 100, 150, 200, 300, 500, 1000)
WAIT_BOUNDS_S = (5, 10, 20, 30, 60, 90, 120, 180, 300)
TIMELINE_LIMIT = 1000
_CURSOR_VERSION = "p1"


class BadCursor(ValueError):
    """A cursor this list did not give out."""


@dataclass(frozen=True)
class PageQuery:
    """A page of the participants table: filters (all optional), and where the previous page ended."""

    experiment: str
    search: str = ""
    state: str | None = None
    scene: str | None = None
    limit: int = 50
    after: tuple[int, str] | None = None


def encode_cursor(started_ns: int, participant: str) -> str:
    """The opaque cursor of the page after this row (newest first: by start time, then participant id)."""
    return base64.urlsafe_b64encode(f"{_CURSOR_VERSION}:{started_ns}:{participant}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    """Where a page ended; BadCursor for anything `encode_cursor` did not make."""
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise BadCursor("the cursor is not one this list gave out; start again without it") from None
    version, _, rest = text.partition(":")
    started, _, participant = rest.partition(":")
    if version != _CURSOR_VERSION or not started.isdecimal() or len(started) > 19 or not is_participant_id(participant):
        raise BadCursor("the cursor is not one this list gave out; start again without it")
    return int(started), participant


def _like(text: str) -> str:
    """`text` as a LIKE pattern matching it anywhere, its own wildcards escaped."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def participants_page(index: Index, query: PageQuery) -> dict[str, Any]:
    """One page of participants, newest first, with the number matching the filters and the next page's cursor."""
    where, args = ["experiment = ?"], [query.experiment]
    page_args: list[Any]
    if query.state is not None:
        where.append("state = ?")
        args.append(query.state)
    if query.scene is not None:
        where.append("scene = ?")
        args.append(query.scene)
    if query.search:
        where.append("(participant LIKE ? ESCAPE '\\' OR completion_code = ?)")
        args += [_like(query.search), query.search]
    condition = " AND ".join(where)
    (total,) = index.query(f"SELECT COUNT(*) FROM participants WHERE {condition}", *args)[0]
    page_where, page_args = condition, list(args)
    if query.after is not None:
        page_where += " AND (t_start_ns, participant) < (?, ?)"
        page_args += list(query.after)
    rows = index.query(
        f"SELECT {', '.join(PAGE_COLUMNS)} FROM participants WHERE {page_where} "
        "ORDER BY t_start_ns DESC, participant DESC LIMIT ?",
        *page_args, query.limit + 1,
    )  # fmt: skip
    page = [dict(zip(PAGE_COLUMNS, row, strict=True)) for row in rows[: query.limit]]
    more = len(rows) > query.limit
    return {
        "total": total,
        "participants": page,
        "next": encode_cursor(page[-1]["t_start_ns"], page[-1]["participant"]) if more and page else None,
    }


def funnel(index: Index, experiment: str, scenes: list[str]) -> dict[str, Any]:
    """Entered, screened out, reached each scene (in the spec's order), by state now, ended by reason."""
    reached = dict(index.query("SELECT scene, COUNT(*) FROM reached WHERE experiment = ? GROUP BY scene", experiment))
    states = dict(index.query("SELECT state, COUNT(*) FROM participants WHERE experiment = ? GROUP BY state",
                              experiment))  # fmt: skip
    endings = dict(index.query("SELECT end_reason, COUNT(*) FROM participants WHERE experiment = ? "
                               "AND status = 'ended' GROUP BY end_reason", experiment))  # fmt: skip
    (screened,) = index.query("SELECT COUNT(DISTINCT participant) FROM screening WHERE experiment = ?", experiment)[0]
    return {
        "entered": sum(states.values()),
        "screened_out": screened,
        "scenes": [{"scene": scene, "reached": reached.get(scene, 0)} for scene in scenes],
        "states": {state: states.get(state, 0) for state in STATES},
        "ended": {str(reason): count for reason, count in endings.items()},
    }


def timeline(index: Index, experiment: str, participant: str) -> dict[str, Any] | None:
    """One participant's row and events in time order (at most `TIMELINE_LIMIT`); None when unknown."""
    columns = (*PAGE_COLUMNS, "session", "connects", "t_end_ns")
    rows = index.query(f"SELECT {', '.join(columns)} FROM participants WHERE experiment = ? AND participant = ?",
                       experiment, participant)  # fmt: skip
    if not rows:
        return None
    events = index.query("SELECT t_ns, kind, detail FROM events WHERE experiment = ? AND participant = ? "
                         "ORDER BY t_ns LIMIT ?", experiment, participant, TIMELINE_LIMIT)  # fmt: skip
    return {
        "participant": dict(zip(columns, rows[0], strict=True)),
        "events": [{"t_ns": t, "kind": kind, "detail": json_column(detail)} for t, kind, detail in events],
    }


def client_errors(index: Index, experiment: str, limit: int = 50) -> dict[str, Any]:
    """What pages reported as errors (`client_error` events): the newest, the most frequent, how many."""
    recent = index.query("SELECT participant, t_ns, json_extract(detail, '$.message') FROM events "
                         "WHERE experiment = ? AND kind = 'client_error' ORDER BY t_ns DESC LIMIT ?",
                         experiment, limit)  # fmt: skip
    common = index.query("SELECT json_extract(detail, '$.message') AS m, COUNT(*), COUNT(DISTINCT participant) "
                         "FROM events WHERE experiment = ? AND kind = 'client_error' GROUP BY m "
                         "ORDER BY 2 DESC LIMIT 10", experiment)  # fmt: skip
    return {
        "total": sum(n for _, n, _ in common),
        "recent": [{"participant": p, "t_ns": t, "message": m} for p, t, m in recent],
        "common": [{"message": m, "count": n, "participants": who} for m, n, who in common],
    }


def groups(index: Index, experiment: str, limit: int = 30) -> dict[str, Any]:
    """Groups formed lately (members, scene, the longest wait) and every group member's wait, bucketed."""
    rows = index.query("SELECT participant, t_ns, detail FROM events WHERE experiment = ? AND kind = 'group_formed' "
                       "ORDER BY t_ns DESC LIMIT ?", experiment, limit * 8)  # fmt: skip
    formed: dict[str, dict[str, Any]] = {}
    for participant, t_ns, text in rows:
        detail = json_column(text)
        group = formed.setdefault(str(detail.get("group")), {
            "group": detail.get("group"), "scene": detail.get("scene"), "t_ns": t_ns, "members": [], "waited_s": 0.0,
            "empty": detail.get("empty") or []})  # fmt: skip
        waited = detail.get("waited_s")
        group["members"].append({"participant": participant, "agent": detail.get("agent"), "waited_s": waited})
        if isinstance(waited, int | float):
            group["waited_s"] = max(group["waited_s"], waited)
    waits = _buckets(index, "json_extract(detail, '$.waited_s')", WAIT_BOUNDS_S,
                     "events WHERE experiment = ? AND kind = 'group_formed'", experiment)  # fmt: skip
    (timeouts,) = index.query("SELECT COUNT(*) FROM events WHERE experiment = ? AND kind = 'wait_timeout'",
                              experiment)[0]  # fmt: skip
    return {"recent": list(formed.values())[:limit], "waits": waits, "timeouts": timeouts}


def plots(index: Index, experiment: str, points: int = 60) -> dict[str, Any]:
    """Arrivals and completions over time (`points` bins at most) and the participants' round trips."""
    first, last = index.query("SELECT MIN(t_start_ns), MAX(MAX(t_start_ns), IFNULL(MAX(t_end_ns), 0)) "
                              "FROM participants WHERE experiment = ? AND t_start_ns > 0", experiment)[0]  # fmt: skip
    series: dict[str, Any] = {"bin_s": 0, "start_ns": first, "arrivals": [], "completions": []}
    if first is not None:
        width = _nice_width((last - first) / 1e9 / points)
        series["bin_s"] = width
        step = int(width * 1e9)
        start = first - first % step
        series["start_ns"] = start
        for name, column, extra in (("arrivals", "t_start_ns", ""),
                                    ("completions", "t_end_ns", "AND status = 'completed'")):  # fmt: skip
            sql = (f"SELECT ({column} - ?) / ?, COUNT(*) FROM participants WHERE experiment = ? AND {column} >= ? "
                   f"{extra} GROUP BY 1 ORDER BY 1")  # fmt: skip
            counts = index.query(sql, start, step, experiment, start)
            series[name] = [[int(b), n] for b, n in counts]
    latency = _buckets(index, "latency_ms", LATENCY_BOUNDS_MS, "participants WHERE experiment = ?", experiment)
    return {"time": series, "latency_ms": latency}


def _nice_width(seconds: float) -> int:
    for width in (10, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400):
        if seconds <= width:
            return width
    return 86400 * 7


def _buckets(index: Index, value: str, bounds: tuple[int, ...], source: str, *args: Any) -> dict[str, Any]:
    """How many values fall at or below each bound (not cumulative), and above the last one."""
    cases = ", ".join(f"SUM({value} <= {b} AND {value} > {a})" for a, b in zip((-1, *bounds), bounds, strict=False))
    row = index.query(f"SELECT {cases}, SUM({value} > {bounds[-1]}) FROM {source}", *args)[0]
    return {"le": list(bounds), "counts": [int(n or 0) for n in row]}
