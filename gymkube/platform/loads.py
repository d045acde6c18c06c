"""Game pods' load reports, read with bounds and checked field by field: a bad or hostile pod is only unhealthy.

A game pod runs researchers' code, so its `/load` answer is input like any other: it may be slow,
endless, huge, or say `{"participants": null}`. The control plane reads at most `MAX_REPORT_BYTES`
within `DEADLINE_S`, validates every field it uses (strict types, bounded numbers and strings), and
on any failure marks that one pod unhealthy with the reason; nothing else is affected.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import httpx
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, model_validator

MAX_REPORT_BYTES = 256 * 1024
DEADLINE_S = 2.0
"""The whole answer, not just each read: a pod that trickles bytes is as unhealthy as a silent one."""

Count = Annotated[StrictInt, Field(ge=0, le=10**9)]
Text = Annotated[str, Field(max_length=2000)]
NonNegative = Annotated[float, Field(ge=0, le=10**7, allow_inf_nan=False)]
Total = Annotated[float, Field(ge=0, le=10**15, allow_inf_nan=False)]


class PodError(BaseModel):
    """One of a pod's recent errors, as the admin view shows it."""

    model_config = ConfigDict(extra="ignore", strict=True)
    t_ns: Annotated[StrictInt, Field(ge=0, le=2**63 - 1)] = 0
    what: Text = ""
    detail: Text = ""


class WaitingRoom(BaseModel):
    """A waiting room on the pod (gymkube/game_pod/live.py), as the dashboard shows it."""

    model_config = ConfigDict(extra="ignore", strict=True)
    scene: Annotated[str, Field(max_length=200)]
    waiting: Count
    size: Count
    longest_wait_s: NonNegative


class TickLateness(BaseModel):
    """The recent ticks' lateness in ms."""

    model_config = ConfigDict(extra="ignore", strict=True)
    p50: NonNegative
    p99: NonNegative
    max: NonNegative


class Buckets(BaseModel):
    """A histogram's bucket bounds and cumulative counts (one more count than bounds: +Inf)."""

    model_config = ConfigDict(extra="ignore", strict=True)
    le: Annotated[list[NonNegative], Field(max_length=32)]
    counts: Annotated[list[Total], Field(max_length=33)]

    @model_validator(mode="after")
    def _one_more_count(self) -> Buckets:
        if len(self.counts) != len(self.le) + 1 or self.le != sorted(self.le):
            raise ValueError("counts must be one more than the sorted bounds")
        return self


class Histograms(BaseModel):
    """The pod's histograms the dashboard plots (gymkube/game_pod/metrics.py)."""

    model_config = ConfigDict(extra="ignore", strict=True)
    tick_lateness_seconds: Buckets | None = None
    input_to_state_seconds: Buckets | None = None
    browser_frame_interval_seconds: Buckets | None = None


class LoadReport(BaseModel):
    """What a game pod says about itself (gymkube/game_pod/pod.py `Pod.load`)."""

    model_config = ConfigDict(extra="ignore", strict=True)
    pod: Annotated[str, Field(max_length=253)]
    experiment: Annotated[str, Field(max_length=63)]
    participants: Count
    capacity: Count
    draining: StrictBool
    games: Count = 0
    waiting: Count = 0
    ungrouped: Count = 0
    completed: Count = 0
    dropped: Count = 0
    spooled_chunks: Count = 0
    storage_error: Text | None = None
    writer_error: Text | None = None
    errors: Annotated[list[PodError], Field(max_length=50)] = []
    arrived: Annotated[list[Annotated[StrictInt, Field(ge=0, lt=2**53)]], Field(max_length=5000)] = []
    """Arrival numbers of the latest connections: routers stop counting those arrivals as pending."""
    frames_sent: Count = 0
    chunks_uploaded: Count = 0
    lobbies: Annotated[list[WaitingRoom], Field(max_length=50)] = []
    tick_lateness_ms: TickLateness | None = None
    histograms: Histograms | None = None


class BadReport(Exception):
    """Why a pod's report was not taken (said in the log and the admin view)."""


async def _read(client: httpx.AsyncClient, url: str) -> bytes:
    async with client.stream("GET", url) as reply:
        if reply.status_code != 200:
            raise BadReport(f"/load answered {reply.status_code}")
        body = bytearray()
        async for piece in reply.aiter_bytes():
            body += piece
            if len(body) > MAX_REPORT_BYTES:
                raise BadReport(f"/load answered more than {MAX_REPORT_BYTES} bytes")
        return bytes(body)


async def read_load(client: httpx.AsyncClient, url: str, pod: str, experiment: str) -> LoadReport:
    """The pod's report, or BadReport saying what was wrong with it.

    Raises:
        BadReport: unreachable, too slow, too large, not JSON, a field missing, of the wrong type or
            out of bounds, or a report about another pod or experiment.
        httpx.ConnectError: nothing listens there yet (a pod still starting).
    """
    try:
        body = await asyncio.wait_for(_read(client, url), DEADLINE_S)
    except (TimeoutError, httpx.TimeoutException):
        raise BadReport(f"/load did not answer within {DEADLINE_S:.0f} s") from None
    except httpx.ConnectError:
        raise
    except httpx.HTTPError as exc:
        raise BadReport(f"/load failed: {type(exc).__name__}") from None
    try:
        report = LoadReport.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "the report"
        raise BadReport(f"/load: {where}: {first['msg']}") from None
    if report.pod != pod or report.experiment != experiment:
        raise BadReport(f"/load speaks for {report.pod!r} of {report.experiment!r}")
    return report
