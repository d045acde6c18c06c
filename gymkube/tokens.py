"""Signed participant tokens: the entry issues them, game pods verify them.

A token names one participant of one experiment; a socket that cannot show a valid token
cannot claim a participant (prior tools let any socket claim any id). A token is valid for a
limited time after it was issued (`iat`; the spec's `recruitment.tokenLifetimeHours`, a week by
default): a participant past it enters again through the study link and gets a fresh one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from typing import Any

MAX_TOKEN_CHARS = 8192
DEFAULT_LIFETIME_S = 7 * 24 * 3600
CLOCK_SKEW_S = 300
"""A token issued this far in the future still counts (the entry and the pods may run on different machines)."""
PARTICIPANT_ID = re.compile(r"[A-Za-z0-9_.@-]{1,128}")
"""What a participant id may be (use `fullmatch`: `$` would let a trailing newline through)."""


class TokenError(ValueError):
    """The token is malformed, forged, expired, or for another experiment."""


class TokenExpired(TokenError):
    """A genuine token, issued longer ago than its lifetime."""


def is_participant_id(value: object) -> bool:
    """Whether `value` is a participant id: 1-128 letters, digits and `_.@-`, nothing else (no control characters)."""
    return isinstance(value, str) and PARTICIPANT_ID.fullmatch(value) is not None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_token(secret: str, claims: dict[str, Any]) -> str:
    """`payload.signature`, both base64url; claims gain an issue time `iat` (now, unless they carry one)."""
    body = _b64(json.dumps({"iat": int(time.time()), **claims}, separators=(",", ":")).encode())
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify_signed(
    secret: str, token: object, experiment: str, lifetime_s: float = DEFAULT_LIFETIME_S
) -> dict[str, Any]:
    """The claims of a genuine, unexpired token for `experiment`, whatever else it names.

    Raises:
        TokenExpired: when it was issued more than `lifetime_s` ago.
        TokenError: when it is not one this platform issued for this experiment.
    """
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise TokenError("malformed token")
    body, mac = token.split(".")
    expected = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    try:
        if not hmac.compare_digest(_unb64(mac), expected):
            raise TokenError("bad signature")
        claims = json.loads(_unb64(body))
    except (ValueError, TypeError):
        raise TokenError("malformed token") from None
    if not isinstance(claims, dict) or claims.get("x") != experiment:
        raise TokenError("token is for another experiment")
    issued, now = claims.get("iat"), time.time()
    if isinstance(issued, bool) or not isinstance(issued, int) or issued > now + CLOCK_SKEW_S:
        raise TokenError("token has no valid issue time")
    if now - issued > lifetime_s:
        age_h, valid_h = round((now - issued) / 3600), lifetime_s / 3600
        raise TokenExpired(f"token expired (issued {age_h} h ago; valid for {valid_h:g} h)")
    if not is_participant_id(claims.get("p")):
        raise TokenError("token lacks a participant")
    return claims


def verify_token(secret: str, token: object, experiment: str, lifetime_s: float = DEFAULT_LIFETIME_S) -> dict[str, Any]:
    """The claims of a genuine, unexpired participant token for `experiment` (one with a session `s`).

    Raises:
        TokenExpired: when it was issued more than `lifetime_s` ago.
        TokenError: when the token is not one this platform issued for this experiment.
    """
    claims = verify_signed(secret, token, experiment, lifetime_s)
    if not isinstance(claims.get("s"), str) or len(claims["s"]) > 128:
        raise TokenError("token lacks a participant")
    return claims
