"""The dashboard's index of participants and their events: SQLite, fed from data chunks as they are stored.

Why an index: a study's record is its chunks in storage. Reading them for every page view would
cost a listing and a GET per chunk per request (oTree's monitor reads everything per view and
times out at 10,000 participants). Each control plane replica keeps its own index, fed by
tailing new chunks (gymkube/platform/dashboard/tail.py; only their `sessions`, `events` and
`screening` tables), so a page of a 10,000-row table is one indexed query. Nothing in it is
needed by another replica, and a replica that starts without it rebuilds it from storage.

Ingesting a chunk is one transaction that also records the chunk's key, so a chunk is taken
exactly once even when several processes share the file.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gymkube.storage.tables import json_column

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MAX_DETAIL = 2000
"""Characters of an event's detail kept (the data keeps all of it)."""
STATE = """CASE WHEN status != 'active' THEN status WHEN online = 0 THEN 'away'
    WHEN waiting_scene IS NOT NULL THEN 'waiting' ELSE 'here' END"""
"""Where a participant is: here (connected), waiting (in a waiting room), away, completed or ended."""
SCHEMA = f"""
CREATE TABLE IF NOT EXISTS participants (
    experiment TEXT NOT NULL, participant TEXT NOT NULL, session TEXT, ordinal INTEGER,
    status TEXT NOT NULL DEFAULT 'active', scene TEXT, scene_index INTEGER, scenes INTEGER,
    end_reason TEXT, completion_code TEXT, t_start_ns INTEGER NOT NULL DEFAULT 0, t_end_ns INTEGER,
    updated_ns INTEGER NOT NULL DEFAULT -1, pod TEXT, latency_ms REAL, client_errors INTEGER, drops INTEGER,
    connects INTEGER, wait_s REAL, online INTEGER NOT NULL DEFAULT 0, seen_ns INTEGER NOT NULL DEFAULT 0,
    waiting_scene TEXT, waiting_since_ns INTEGER,
    state TEXT GENERATED ALWAYS AS ({STATE}) VIRTUAL,
    PRIMARY KEY (experiment, participant)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS participants_started ON participants (experiment, t_start_ns, participant);
CREATE INDEX IF NOT EXISTS participants_state ON participants (experiment, state, t_start_ns);
CREATE INDEX IF NOT EXISTS participants_scene ON participants (experiment, scene, t_start_ns);
CREATE INDEX IF NOT EXISTS participants_pod ON participants (experiment, pod);
CREATE TABLE IF NOT EXISTS reached (
    experiment TEXT NOT NULL, scene TEXT NOT NULL, participant TEXT NOT NULL,
    PRIMARY KEY (experiment, scene, participant)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    experiment TEXT NOT NULL, participant TEXT, t_ns INTEGER NOT NULL, kind TEXT NOT NULL, detail TEXT
);
CREATE INDEX IF NOT EXISTS events_participant ON events (experiment, participant, t_ns);
CREATE INDEX IF NOT EXISTS events_kind ON events (experiment, kind, t_ns);
CREATE TABLE IF NOT EXISTS screening (
    experiment TEXT NOT NULL, participant TEXT, t_ns INTEGER, problems TEXT
);
CREATE INDEX IF NOT EXISTS screening_experiment ON screening (experiment, t_ns);
CREATE TABLE IF NOT EXISTS chunks (experiment TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (experiment, key))
    WITHOUT ROWID;
"""
SESSION_COLUMNS = ("participant", "session", "ordinal", "status", "scene", "scene_index", "assignment", "end_reason",
                   "completion_code", "t_start_ns", "t_end_ns", "updated_ns", "pod", "latency_ms", "client_errors",
                   "drops", "connects", "wait_s")  # fmt: skip
UPSERT = """
INSERT INTO participants (experiment, participant, session, ordinal, status, scene, scene_index, scenes, end_reason,
    completion_code, t_start_ns, t_end_ns, updated_ns, pod, latency_ms, client_errors, drops, connects, wait_s)
VALUES (:experiment, :participant, :session, :ordinal, :status, :scene, :scene_index, :scenes, :end_reason,
    :completion_code, :t_start_ns, :t_end_ns, :updated_ns, :pod, :latency_ms, :client_errors, :drops, :connects,
    :wait_s)
ON CONFLICT (experiment, participant) DO UPDATE SET session = excluded.session, ordinal = excluded.ordinal,
    status = excluded.status, scene = excluded.scene, scene_index = excluded.scene_index, scenes = excluded.scenes,
    end_reason = excluded.end_reason, completion_code = excluded.completion_code, t_start_ns = excluded.t_start_ns,
    t_end_ns = excluded.t_end_ns, updated_ns = excluded.updated_ns, pod = excluded.pod,
    latency_ms = excluded.latency_ms, client_errors = excluded.client_errors, drops = excluded.drops,
    connects = excluded.connects, wait_s = excluded.wait_s,
    waiting_scene = CASE WHEN excluded.status = 'active' THEN waiting_scene END
WHERE excluded.updated_ns >= participants.updated_ns
"""
WAITING_ENDS = ("waiting_leave", "group_formed", "wait_timeout", "ended", "completed")


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _median(text: Any) -> float | None:
    try:
        values = sorted(float(v) for v in json.loads(text)) if isinstance(text, str) else []
    except (ValueError, TypeError):
        return None
    return values[len(values) // 2] if values else None


class Index:
    """One SQLite file (or memory) per control plane replica; every method is blocking (run it in a thread)."""

    def __init__(self, path: Path | None) -> None:
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path or ":memory:"), check_same_thread=False, isolation_level=None,
                                   timeout=30.0)  # fmt: skip
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version != SCHEMA_VERSION:  # another gymkube's index: rebuilt from storage
                for table in ("participants", "reached", "events", "screening", "chunks"):
                    self._db.execute(f"DROP TABLE IF EXISTS {table}")
                self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._db.executescript(SCHEMA)

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """Rows of one read."""
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def known_chunks(self, experiment: str) -> set[str]:
        """Keys of the chunks of `experiment` already taken."""
        return {key for (key,) in self.query("SELECT key FROM chunks WHERE experiment = ?", experiment)}

    def ingest(self, experiment: str, key: str, tables: dict[str, list[dict[str, Any]]]) -> bool:
        """Take one chunk's rows (False, and nothing changed, when the chunk was taken before)."""
        with self._transaction() as db:
            if db.execute("INSERT OR IGNORE INTO chunks VALUES (?, ?)", (experiment, key)).rowcount == 0:
                return False
            self._sessions(db, experiment, tables.get("sessions", []))
            self._events(db, experiment, tables.get("events", []))
            db.executemany(
                "INSERT INTO screening VALUES (?, ?, ?, ?)",
                [(experiment, r.get("participant"), _int(r.get("t_ns")), str(r.get("problems") or "")[:MAX_DETAIL])
                 for r in tables.get("screening", [])],
            )  # fmt: skip
        return True

    def _sessions(self, db: sqlite3.Connection, experiment: str, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            participant = row.get("participant")
            updated = _int(row.get("updated_ns")) or 0
            if not isinstance(participant, str):
                continue
            try:
                flow = json.loads(row.get("assignment") or "[]")
            except ValueError:
                flow = []
            flow = [str(scene) for scene in flow] if isinstance(flow, list) else []
            index = _int(row.get("scene_index")) or 0
            reached = flow if row.get("status") == "completed" else flow[: index + 1]
            db.executemany("INSERT OR IGNORE INTO reached VALUES (?, ?, ?)",
                           [(experiment, scene, participant) for scene in reached])  # fmt: skip
            before = db.execute("SELECT scene, updated_ns FROM participants WHERE experiment = ? AND participant = ?",
                                (experiment, participant)).fetchone()  # fmt: skip
            values = {c: row.get(c) for c in SESSION_COLUMNS} | {
                "experiment": experiment, "scenes": len(flow), "latency_ms": _median(row.get("latency_ms")),
                "updated_ns": updated, "t_start_ns": _int(row.get("t_start_ns")) or 0,
            }  # fmt: skip
            db.execute(UPSERT, values)
            if before is None or (before[0] != row.get("scene") and updated >= before[1]):
                detail = json.dumps({"scene": row.get("scene"), "index": index})
                db.execute(
                    "INSERT INTO events VALUES (?, ?, ?, 'scene', ?)", (experiment, participant, updated, detail)
                )

    def _events(self, db: sqlite3.Connection, experiment: str, rows: Iterable[dict[str, Any]]) -> None:
        kept = []
        for row in rows:
            participant, kind, t_ns = row.get("participant"), row.get("kind"), _int(row.get("t_ns"))
            if not isinstance(kind, str) or t_ns is None:
                continue
            detail_text = str(row.get("detail") or "")[:MAX_DETAIL]
            kept.append((experiment, participant, t_ns, kind[:64], detail_text))
            where = (experiment, participant)
            if kind in ("connect", "reconnect", "disconnect"):
                db.execute(
                    "UPDATE participants SET online = ?, seen_ns = ? WHERE experiment = ? AND participant = ? "
                    "AND seen_ns <= ?",
                    (int(kind != "disconnect"), t_ns, *where, t_ns),
                )
            elif kind == "waiting_join":
                waited = json_column(row.get("detail")).get("waited_s")
                since = t_ns - int(waited * 1e9) if isinstance(waited, int | float) and 0 <= waited < 1e7 else t_ns
                db.execute(
                    "UPDATE participants SET waiting_scene = ?, waiting_since_ns = ? WHERE experiment = ? "
                    "AND participant = ?",
                    (str(json_column(row.get("detail")).get("scene") or "")[:200], since, *where),
                )
            elif kind in WAITING_ENDS:
                db.execute(
                    "UPDATE participants SET waiting_scene = NULL WHERE experiment = ? AND participant = ?", where
                )
        db.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?)", kept)

    def pods_gone(self, experiment: str, pods: Iterable[str]) -> None:
        """Participants last seen on these pods (stopped or unhealthy) are no longer here."""
        with self._transaction() as db:
            db.executemany("UPDATE participants SET online = 0 WHERE experiment = ? AND pod = ? AND online = 1",
                           [(experiment, pod) for pod in pods])  # fmt: skip
