"""Researcher tokens: who holds one, what it may reach, and how a token is made and recognised (stored hashed)."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

TOKEN_PREFIX = "gk_"
MAX_TOKEN_CHARS = 200
RESEARCHER_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?")
"""A researcher's name: also a Kubernetes label value, where tokens are kept as Secrets."""


@dataclass(frozen=True)
class Researcher:
    """Who a token belongs to and which experiments it may touch (None: all)."""

    name: str
    experiments: tuple[str, ...] | None = None

    def can(self, experiment: str) -> bool:
        """Whether this researcher may see or change `experiment`."""
        return self.experiments is None or experiment in self.experiments


@dataclass(frozen=True)
class TokenInfo:
    """A stored token as listed (never the token itself: only its hash is kept)."""

    name: str
    sha256: str
    experiments: tuple[str, ...] | None
    created: float


def new_token() -> str:
    """A fresh random token (shown once to whoever created it)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_digest(token: str) -> str | None:
    """The sha256 a token is stored under, or None for something that cannot be a token."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > MAX_TOKEN_CHARS:
        return None
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(name: str) -> str:
    """A researcher's name as given, or ValueError saying what a name may be."""
    if not RESEARCHER_NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a researcher name: 1-63 letters, digits, '.', '_' or '-'")
    return name
