"""The embedded control plane's state in SQLite (`state.db` in the state folder)."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from gymkube.platform.auth import Researcher, TokenInfo, check_name, new_token, token_digest
from gymkube.platform.state import StateStore

log = logging.getLogger(__name__)

SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    sha256 TEXT PRIMARY KEY, name TEXT NOT NULL, experiments TEXT, created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ordinals (experiment TEXT PRIMARY KEY, next INTEGER NOT NULL);
"""


class SqliteState(StateStore):
    """Tokens and counters in one SQLite file; the `gymkube token` command writes the same file."""

    ordinal_block = 1

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, timeout=10.0, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.executescript(SCHEMA)
        path.chmod(0o600)
        self._import_token_file(path.parent / "tokens.json")

    def _import_token_file(self, old: Path) -> None:
        """Tokens an earlier gymkube kept in tokens.json move here once (still hashed)."""
        if not old.is_file():
            return
        try:
            stored = json.loads(old.read_text())
            rows = [(t["sha256"], t["name"], json.dumps(t["experiments"]) if t.get("experiments") is not None else None,
                     float(t["created"])) for t in stored]  # fmt: skip
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("not importing researcher tokens from %s: %s", old, exc)
            return
        with self._lock:
            self._db.executemany("INSERT OR IGNORE INTO tokens VALUES (?, ?, ?, ?)", rows)
        old.rename(old.with_name("tokens.json.imported"))
        log.info("imported %d researcher token(s) from %s", len(rows), old)

    def _run(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    async def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    async def create_token(self, name: str, experiments: list[str] | None = None) -> str:
        """Store the new token's hash; return the token."""
        token = new_token()
        scope = json.dumps(sorted(experiments)) if experiments is not None else None
        await asyncio.to_thread(self._run, "INSERT INTO tokens VALUES (?, ?, ?, ?)",
                                token_digest(token), check_name(name), scope, time.time())  # fmt: skip
        return token

    async def verify_token(self, token: str) -> Researcher | None:
        """Look the hash up (an indexed read of a local file)."""
        digest = token_digest(token)
        if digest is None:
            return None
        rows = self._run("SELECT name, experiments FROM tokens WHERE sha256 = ?", digest)
        if not rows:
            return None
        name, scope = rows[0]
        return Researcher(name, tuple(json.loads(scope)) if scope is not None else None)

    async def list_tokens(self) -> list[TokenInfo]:
        """Every token, oldest first."""
        rows = await asyncio.to_thread(
            self._run, "SELECT name, sha256, experiments, created FROM tokens ORDER BY created"
        )
        return [TokenInfo(n, d, tuple(json.loads(s)) if s is not None else None, c) for n, d, s, c in rows]

    async def revoke_tokens(self, name: str) -> int:
        """Delete the tokens of `name`."""
        rows = await asyncio.to_thread(self._run, "DELETE FROM tokens WHERE name = ? RETURNING sha256", name)
        return len(rows)

    async def reserve_ordinals(self, experiment: str, count: int) -> int:
        """One atomic update of the experiment's counter."""
        rows = await asyncio.to_thread(
            self._run,
            "INSERT INTO ordinals VALUES (?, ?) ON CONFLICT(experiment) DO UPDATE SET next = next + excluded.next "
            "RETURNING next",
            experiment,
            count,
        )
        return int(rows[0][0]) - count
