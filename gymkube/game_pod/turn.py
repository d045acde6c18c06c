"""Short-lived TURN credentials (the TURN REST API convention coturn implements with use-auth-secret).

username = "<expiry unix time>:<participant>", credential = base64(HMAC-SHA1(secret, username)).
The shared secret stays on the pod; a participant only ever sees credentials that expire.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from pathlib import Path
from typing import Any


def turn_credentials(secret: str, participant: str, urls: list[str], ttl_s: int = 3600) -> dict[str, Any]:
    """An RTCIceServer-shaped dict: urls, username, credential, and its time to live."""
    username = f"{int(time.time()) + ttl_s}:{participant}"
    digest = hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()
    return {"urls": urls, "username": username, "credential": base64.b64encode(digest).decode(), "ttl": ttl_s}


def read_turn_secret(path: Path | None) -> str | None:
    """The mounted shared secret, or None when TURN is not configured."""
    if path is None or not path.is_file():
        return None
    return path.read_text().strip() or None
