"""What a game pod needs from outside itself, with only its experiment's key: storage, token checks, TURN.

Run by a runtime (`control_plane_url` set), the pod holds no storage credentials and no TURN
secret of the platform's: it asks the control plane (gymkube/platform/internal.py). Run by hand
(tests, benchmarks) it uses the storage URL it was given.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from gymkube.game_pod.settings import PodSettings
from gymkube.game_pod.turn import read_static_credentials, read_turn_secret, turn_credentials
from gymkube.keys import POD_API, derive, token_key
from gymkube.storage.backends import Storage, open_storage
from gymkube.storage.broker import BrokeredStorage

log = logging.getLogger(__name__)

NO_TURN: dict[str, Any] = {"urls": []}


def pod_storage(settings: PodSettings, experiment: str, destination: str | None) -> Storage:
    """Signed URLs through the control plane when there is one; else the storage named in the settings."""
    if settings.control_plane_url:
        return BrokeredStorage(settings.control_plane_url, experiment, derive(settings.secret, POD_API))
    return open_storage(destination or settings.storage)


def pod_token_key(settings: PodSettings) -> str:
    """The key this pod verifies participant tokens with (derived from its experiment's key)."""
    return token_key(settings.secret)


class TurnSource:
    """TURN credentials for participants: from the experiment's own TURN Secret (mounted into its pods only:
    a shared secret or static credentials), else from the control plane (the platform's, or embedded, the
    experiment's from the control plane's turn-secrets folder)."""

    def __init__(self, settings: PodSettings, experiment: str) -> None:
        self.urls = list(settings.turn_urls)
        self.own_secret = read_turn_secret(settings.turn_secret_file)
        self.own_static = settings.turn_credentials_dir
        self.url = f"{settings.control_plane_url.rstrip('/')}/internal/v1/experiments/{experiment}/turn"
        self.remote = bool(settings.control_plane_url)
        self._auth = {"Authorization": f"Bearer {derive(settings.secret, POD_API)}"}

    async def credentials(self, participant: str) -> dict[str, Any]:
        """An RTCIceServer-shaped dict for this participant, or `{"urls": []}` without TURN."""
        if self.own_secret is not None and self.urls:
            return turn_credentials(self.own_secret, participant, self.urls)
        static = read_static_credentials(self.own_static, self.urls)
        if static is not None:
            return static
        if not self.remote:
            return NO_TURN
        try:
            async with httpx.AsyncClient(timeout=3.0) as client:
                reply = await client.post(self.url, json={"participant": participant}, headers=self._auth)
            reply.raise_for_status()
            body = reply.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("no TURN credentials from the control plane: %s", exc)
            return NO_TURN
        return body if isinstance(body, dict) and isinstance(body.get("urls"), list) else NO_TURN
