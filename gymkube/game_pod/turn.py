"""TURN credentials for browsers: short-lived ones from a shared secret, or static ones as a service issued them.

Shared secret (the TURN REST API convention coturn implements with use-auth-secret): username =
"<expiry unix time>:<participant>", credential = base64(HMAC-SHA1(secret, username)). The secret stays
where it is mounted; a participant only ever sees credentials that expire.

Static (services such as metered.ca hand out a username and a credential): a folder with the files
`username` and `credential`, as Kubernetes mounts a Secret with those keys. They are handed to every
participant as they are, so anyone in the study can read them; they are read at every request, so a
rotated Secret takes effect without a restart.
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


def read_static_credentials(folder: Path | None, urls: list[str]) -> dict[str, Any] | None:
    """The RTCIceServer-shaped dict of static credentials in `folder`, or None when there are none."""
    if folder is None or not urls:
        return None
    try:
        username = (folder / "username").read_text().strip()
        credential = (folder / "credential").read_text().strip()
    except OSError:
        return None
    if not username or not credential:
        return None
    return {"urls": list(urls), "username": username, "credential": credential, "ttl": None}


def read_turn_secret(path: Path | None) -> str | None:
    """The mounted shared secret, or None when TURN is not configured."""
    if path is None or not path.is_file():
        return None
    return path.read_text().strip() or None
