"""The dashboard's actions on a running study: end one participant's session on the game pod that holds it.

The control plane asks the participant's pod (the one their newest data names, then the others)
with the experiment's control credential (gymkube/game_pod/control.py); the pod ends the session
as it ends any other, so the participant sees the ending and its code at once, and the data
records who ended it (`ended_by_researcher`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx

from gymkube.game_pod.control import control_credential
from gymkube.platform.plane import ControlPlane
from gymkube.platform.runtime.base import ExperimentRecord

TIMEOUT_S = 10.0


class ActionFailed(Exception):
    """The action could not be done; the message says why, for the researcher."""


def _root(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def end_session(
    plane: ControlPlane, record: ExperimentRecord, participant: str, ending: str, by: str, pod_hint: str | None
) -> dict[str, Any]:
    """End `participant`'s session with `ending` on the pod that holds it; what the pod answered.

    Raises:
        ActionFailed: when no pod holds the participant now, or a pod refused.
    """
    endpoints = sorted(plane.runtime.pods(record.name), key=lambda e: e.name != pod_hint)
    headers = {"Authorization": f"Bearer {control_credential(plane.experiment_key(record))}"}
    async with httpx.AsyncClient(timeout=TIMEOUT_S) as client:
        for endpoint in endpoints:
            url = f"{_root(endpoint.internal_url or endpoint.url)}/control/participants/{participant}/end"
            try:
                reply = await client.post(url, json={"ending": ending, "by": by}, headers=headers)
            except httpx.HTTPError as exc:
                raise ActionFailed(f"game pod {endpoint.name} did not answer ({type(exc).__name__})") from None
            if reply.status_code == 404:
                continue
            if reply.status_code != 200:
                raise ActionFailed(f"game pod {endpoint.name} refused ({reply.status_code}): {reply.text[:300]}")
            result: dict[str, Any] = reply.json()
            return result
    raise ActionFailed(
        f"{participant} is not on a game pod now (they left the page); their session can be ended once they are back"
    )
