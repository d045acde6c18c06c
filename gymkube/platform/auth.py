"""Researcher tokens: created by `gymkube token create`, stored hashed, optionally scoped."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path

TOKEN_PREFIX = "gk_"


@dataclass(frozen=True)
class Researcher:
    """Who a token belongs to and which experiments it may touch (None: all)."""

    name: str
    experiments: tuple[str, ...] | None = None

    def can(self, experiment: str) -> bool:
        """Whether this researcher may see or change `experiment`."""
        return self.experiments is None or experiment in self.experiments


@dataclass
class _StoredToken:
    name: str
    sha256: str
    experiments: list[str] | None
    created: float


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class TokenStore:
    """Tokens in a JSON file (hashes only; the token itself is shown once at creation)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cache: list[_StoredToken] | None = None
        self._mtime = 0.0

    def _load(self) -> list[_StoredToken]:
        try:
            mtime = self.path.stat().st_mtime
        except FileNotFoundError:
            return []
        if self._cache is None or mtime != self._mtime:
            self._cache = [_StoredToken(**t) for t in json.loads(self.path.read_text())]
            self._mtime = mtime
        return self._cache

    def create(self, name: str, experiments: list[str] | None = None) -> str:
        """A new token for `name` (scoped to `experiments` when given); returns it once."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(32)
        stored = [*self._load(), _StoredToken(name, _digest(token), experiments, time.time())]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps([asdict(t) for t in stored], indent=1))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
        return token

    def verify(self, token: str) -> Researcher | None:
        """The researcher holding `token`, or None."""
        if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
            return None
        digest = _digest(token)
        for stored in self._load():
            if hmac.compare_digest(stored.sha256, digest):
                scope = tuple(stored.experiments) if stored.experiments is not None else None
                return Researcher(stored.name, scope)
        return None
