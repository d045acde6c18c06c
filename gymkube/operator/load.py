"""Reading the game pods' load, and how many pods that load calls for."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx

COUNTS = ("participants", "games", "waiting", "completed")


@dataclass(frozen=True)
class PodLoad:
    """What one game pod reports at `/load` (zeros when it could not be read)."""

    participants: int = 0
    games: int = 0
    waiting: int = 0
    completed: int = 0

    @classmethod
    def from_report(cls, report: Any) -> PodLoad:
        """The counts of a `/load` answer; anything malformed counts as no load."""
        if not isinstance(report, Mapping):
            return cls()
        values = {key: report.get(key) for key in COUNTS}
        return cls(**{key: value if isinstance(value, int) and value >= 0 else 0 for key, value in values.items()})


def total(loads: Iterable[PodLoad]) -> PodLoad:
    """The counts summed over pods."""
    loads = list(loads)
    return PodLoad(**{key: sum(getattr(load, key) for load in loads) for key in COUNTS})


def pod_is_ready(pod: Mapping[str, Any]) -> bool:
    """Whether the pod has an IP and its Ready condition is True."""
    status = pod.get("status") or {}
    conditions = status.get("conditions") or []
    return bool(status.get("podIP")) and any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def pod_http_port(pod: Mapping[str, Any]) -> int | None:
    """The containerPort named `http`, read from the pod's own spec."""
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == "http":
                return int(port["containerPort"])
    return None


def pod_ordinal(pod: Mapping[str, Any], statefulset_name: str) -> int | None:
    """N of a StatefulSet pod `<statefulset>-N`, else None."""
    suffix = str(pod["metadata"]["name"]).removeprefix(f"{statefulset_name}-")
    return int(suffix) if suffix.isdigit() and suffix != pod["metadata"]["name"] else None


async def _read_one(http: httpx.AsyncClient, pod: Mapping[str, Any]) -> PodLoad:
    url = f"http://{pod['status']['podIP']}:{pod_http_port(pod)}/load"
    try:
        response = await http.get(url)
        response.raise_for_status()
        return PodLoad.from_report(response.json())
    except (httpx.HTTPError, ValueError):
        return PodLoad()


async def read_loads(
    pods: Iterable[Mapping[str, Any]], statefulset_name: str, timeout_s: float = 1.0
) -> dict[int, PodLoad]:
    """The load of every ready game pod by ordinal; pods that cannot be read count as no load."""
    readable = {
        ordinal: pod
        for pod in pods
        if (ordinal := pod_ordinal(pod, statefulset_name)) is not None and pod_is_ready(pod) and pod_http_port(pod)
    }
    async with httpx.AsyncClient(timeout=timeout_s, trust_env=False) as http:
        loads = await asyncio.gather(*(_read_one(http, pod) for pod in readable.values()))
    return dict(zip(readable, loads, strict=True))


def desired_replicas(
    current: int,
    participants: int,
    last_pod_participants: int,
    *,
    capacity: int,
    scale_up_at: float,
    minimum: int,
    maximum: int,
) -> int:
    """How many game pods the load calls for, within [minimum, maximum].

    A pod is added once the participants fill `scale_up_at` of the pods' capacity. Scaling
    down goes one pod at a time and only while the highest-ordinal pod is empty, since a
    StatefulSet always removes that pod and its participants would lose their game.
    """
    wanted = min(max(math.ceil(participants / (capacity * scale_up_at)), minimum), maximum)
    if wanted >= current:
        return wanted
    return current - 1 if last_pod_participants == 0 else current
