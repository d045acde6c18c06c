"""Signed participant tokens: the entry issues them, game pods verify them.

A token names one participant of one experiment; a socket that cannot show a valid token
cannot claim a participant (prior tools let any socket claim any id).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

MAX_TOKEN_CHARS = 8192


class TokenError(ValueError):
    """The token is malformed, forged, or for another experiment."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def sign_token(secret: str, claims: dict[str, Any]) -> str:
    """`payload.signature`, both base64url; claims gain an issue time `iat`."""
    body = _b64(json.dumps({**claims, "iat": int(time.time())}, separators=(",", ":")).encode())
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()
    return f"{body}.{_b64(mac)}"


def verify_token(secret: str, token: object, experiment: str) -> dict[str, Any]:
    """The claims of a genuine token for `experiment`.

    Raises:
        TokenError: when the token is not one this platform issued for this experiment.
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
    if not isinstance(claims.get("p"), str) or not isinstance(claims.get("s"), str):
        raise TokenError("token lacks a participant")
    return claims
