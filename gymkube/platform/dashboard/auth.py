"""Who is looking at the dashboard: the admin (the admin secret) or a researcher (their token, their scope).

Signing in sets a signed, expiring cookie naming the viewer; any replica checks it with keys every
replica holds (the platform secret and the admin secret), so no session lives in one process. A
researcher's cookie carries their token's hash: revoking the token ends the session within
`REVOKED_AFTER_S`. Failed sign-ins are rate-limited per client address and in total, so guessing
is slow (and hopeless anyway: secrets are at least 16 characters, tokens 32 random bytes).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections import OrderedDict
from dataclasses import dataclass

from gymkube.game_pod.limits import TokenBucket
from gymkube.keys import derive
from gymkube.platform.auth import Researcher, token_digest
from gymkube.platform.plane import ControlPlane

COOKIE = "gymkube_dashboard"
SESSION_S = 8 * 3600
REVOKED_AFTER_S = 5.0
MAX_COOKIE_CHARS = 4096
FAILURES_PER_CLIENT = (1 / 12, 5.0)
"""Failed sign-ins one address may make: 5 at once, then one every 12 s."""
FAILURES_IN_TOTAL = (1.0, 30.0)
"""Failed sign-ins from all addresses together: 30 at once, then one a second."""
MAX_CLIENTS = 10_000


@dataclass(frozen=True)
class Viewer:
    """Who is signed in: the admin sees every experiment, a researcher those of their token's scope."""

    name: str
    experiments: tuple[str, ...] | None = None
    admin: bool = False
    digest: str | None = None

    def can(self, experiment: str) -> bool:
        """Whether this viewer may see and act on `experiment`."""
        return self.experiments is None or experiment in self.experiments


def _key(plane: ControlPlane) -> bytes:
    # Changing either secret ends every dashboard session.
    return f"{derive(plane.secret, 'dashboard-session')}:{plane.settings.admin_secret}".encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def session_cookie(plane: ControlPlane, viewer: Viewer, now: float | None = None) -> str:
    """The signed cookie value for `viewer`, valid for `SESSION_S`."""
    claims = {"n": viewer.name, "e": viewer.experiments, "a": viewer.admin, "d": viewer.digest,
              "x": int((now or time.time()) + SESSION_S)}  # fmt: skip
    body = _b64(json.dumps(claims, separators=(",", ":")).encode())
    return f"{body}.{_b64(hmac.new(_key(plane), body.encode(), hashlib.sha256).digest())}"


def read_cookie(plane: ControlPlane, value: str | None) -> Viewer | None:
    """The viewer a genuine, unexpired cookie names; None for anything else."""
    if not value or len(value) > MAX_COOKIE_CHARS or value.count(".") != 1:
        return None
    body, mac = value.split(".")
    expected = _b64(hmac.new(_key(plane), body.encode(), hashlib.sha256).digest())
    if not hmac.compare_digest(mac.encode(), expected.encode()):
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        expires, scope = int(claims["x"]), claims["e"]
        viewer = Viewer(str(claims["n"]), tuple(scope) if scope is not None else None, claims["a"] is True, claims["d"])
    except (ValueError, KeyError, TypeError):
        return None
    return viewer if expires >= time.time() else None


async def sign_in(plane: ControlPlane, secret: str) -> Viewer | None:
    """The viewer this admin secret or researcher token makes, or None."""
    if hmac.compare_digest(secret.encode(), plane.settings.admin_secret.encode()):
        return Viewer("admin", None, admin=True)
    researcher: Researcher | None = await plane.state.verify_token(secret)
    if researcher is None:
        return None
    return Viewer(researcher.name, researcher.experiments, digest=token_digest(secret))


class TokenCheck:
    """Whether a researcher's token still exists (the store's list of hashes, read at most every few seconds)."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self._digests: set[str] = set()
        self._read_at = 0.0

    async def valid(self, viewer: Viewer) -> bool:
        """True for the admin, and for a researcher whose token has not been revoked."""
        if viewer.admin:
            return True
        if time.monotonic() - self._read_at > REVOKED_AFTER_S:
            self._digests = {info.sha256 for info in await self.plane.state.list_tokens()}
            self._read_at = time.monotonic()
        return viewer.digest in self._digests


class SignInLimiter:
    """Failed sign-ins per client address and in total: past a budget, sign-ins wait (429 with Retry-After)."""

    def __init__(self) -> None:
        self.total = TokenBucket(*FAILURES_IN_TOTAL)
        self.clients: OrderedDict[str, TokenBucket] = OrderedDict()

    def _bucket(self, client: str) -> TokenBucket:
        bucket = self.clients.pop(client, None) or TokenBucket(*FAILURES_PER_CLIENT)
        self.clients[client] = bucket
        while len(self.clients) > MAX_CLIENTS:
            self.clients.popitem(last=False)
        return bucket

    def wait_s(self, client: str) -> float:
        """Seconds before this client may try again (0: now)."""
        client_bucket, total = self._bucket(client), self.total
        client_bucket.take(0.0)  # brings the bucket up to date
        total.take(0.0)
        waits = [(1 - b.tokens) / b.rate for b in (client_bucket, total) if b.tokens < 1]
        return max(waits, default=0.0)

    def failed(self, client: str) -> None:
        """A wrong secret or token from `client`."""
        self._bucket(client).take(1.0)
        self.total.take(1.0)
