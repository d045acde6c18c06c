"""A bad or hostile game pod cannot hurt the control plane (issue 16, item 3).

Real HTTP servers on 127.0.0.1 play game pods whose `/load` answers nulls, lists, strings, huge
numbers, a report about another pod, megabytes, a trickle, or nothing at all, beside one honest pod.
The control plane starts, serves its API and entry, reports each bad pod unhealthy with the reason,
and routes participants only to the honest pod.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web

from gymkube.platform.main import _wait_for_pods, build_app
from gymkube.platform.runtime.base import ExperimentRecord, PodEndpoint
from gymkube.platform.runtime.local import free_port
from gymkube.platform.settings import PlatformSettings
from gymkube.spec import load_experiment_file

ROOT = Path(__file__).resolve().parents[2]
CARTPOLE = load_experiment_file(ROOT / "examples" / "cartpole.yaml")[0]


def honest(pod: str) -> dict[str, Any]:
    return {"pod": pod, "experiment": "cartpole", "participants": 0, "capacity": 200, "draining": False,
            "games": 0, "waiting": 0, "ungrouped": 0, "completed": 3, "dropped": 0, "errors": []}  # fmt: skip


BAD: dict[str, Any] = {
    "nulls": {**honest("nulls"), "participants": None},
    "a-list": [honest("a-list")],
    "strings": {**honest("strings"), "completed": "x"},
    "huge": {**honest("huge"), "participants": 10**30},
    "negative": {**honest("negative"), "capacity": -5},
    "bool-as-int": {**honest("bool-as-int"), "draining": 1},
    "impostor": honest("honest"),  # says it is another pod
    "error-flood": {**honest("error-flood"), "errors": [{"what": "x", "detail": "y"}] * 10_000},
    "not-json": "<html>oops",
    # What the dashboard takes from a report (waiting rooms, tick lateness, histograms) is bounded too.
    "waiting-rooms": {
        **honest("waiting-rooms"),
        "lobbies": [{"scene": "x", "waiting": 1, "size": 2, "longest_wait_s": 1.0}] * 51,
    },
    "lateness-nan": {**honest("lateness-nan"), "tick_lateness_ms": {"p50": float("nan"), "p99": 1.0, "max": 1.0}},
    "histogram-shape": {
        **honest("histogram-shape"),
        "histograms": {"tick_lateness_seconds": {"le": [0.1, 0.01], "counts": [1, 2, 3]}},
    },
}


class FakePods:
    """Every fake pod under its own path of one server: /<pod>/load."""

    def __init__(self) -> None:
        self.port = free_port()
        self.runner: web.AppRunner | None = None

    async def load(self, request: web.Request) -> web.StreamResponse:
        pod = request.match_info["pod"]
        if pod == "honest":
            return web.json_response(honest("honest"))
        if pod == "silent":
            await asyncio.sleep(3600)
        if pod == "megabytes":
            return web.Response(body=b'{"pod": "' + b"x" * (20 << 20) + b'"}', content_type="application/json")
        if pod == "trickle":
            reply = web.StreamResponse()
            await reply.prepare(request)
            for byte in json.dumps(honest("trickle")).encode():
                await reply.write(bytes([byte]))
                await asyncio.sleep(0.5)
            return reply
        if pod == "teapot":
            return web.json_response(honest("teapot"), status=418)
        body = BAD[pod]
        return web.Response(text=body if isinstance(body, str) else json.dumps(body), content_type="application/json")

    async def __aenter__(self) -> FakePods:
        app = web.Application()
        app.router.add_get("/{pod}/load", self.load)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def __aexit__(self, *_: Any) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


class FakeRuntime:
    """One experiment whose pods are the fake ones."""

    def __init__(self, base: str, names: list[str]) -> None:
        self.record = ExperimentRecord(CARTPOLE)
        self.endpoints = [PodEndpoint(n, f"http://pods.example/{n}/", "cartpole", 1, f"{base}/{n}") for n in names]

    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def stop_pods(self) -> None: ...
    async def refresh(self) -> None: ...

    def get(self, name: str) -> ExperimentRecord | None:
        return self.record if name == "cartpole" else None

    def records(self) -> list[ExperimentRecord]:
        return [self.record]

    def pods(self, name: str) -> list[PodEndpoint]:
        return self.endpoints if name == "cartpole" else []


async def test_bad_load_reports_mark_only_their_pod_unhealthy_and_the_control_plane_serves_on(tmp_path: Path):
    names = ["honest", *BAD, "silent", "megabytes", "trickle", "teapot"]
    async with FakePods() as pods:
        runtime = FakeRuntime(f"http://127.0.0.1:{pods.port}", names)
        app = build_app(PlatformSettings(dev=True, state_dir=tmp_path), runtime=runtime)  # type: ignore[arg-type]
        plane = app.state.plane
        started = time.monotonic()
        await _wait_for_pods(plane, timeout_s=60)
        assert time.monotonic() - started < 15, "start-up waited on pods that answer badly"

        loads = plane.loads
        assert loads["honest"]["alive"] and loads["honest"]["completed"] == 3
        for name in names[1:]:
            assert not loads[name]["alive"], name
            assert loads[name]["unhealthy"].startswith("/load"), (name, loads[name]["unhealthy"])
        assert "participants" in loads["nulls"]["unhealthy"] and "completed" in loads["strings"]["unhealthy"]
        assert "speaks for 'honest'" in loads["impostor"]["unhealthy"]
        assert "more than" in loads["megabytes"]["unhealthy"] and "within" in loads["silent"]["unhealthy"]

        token = await plane.state.create_token("rita")
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://cp",
                                     headers={"Authorization": f"Bearer {token}"}) as api:  # fmt: skip
            listed = await api.get("/api/v1/experiments")
            assert listed.status_code == 200, listed.text
            stats = (await api.get("/api/v1/experiments/cartpole/stats")).json()
            assert stats["completed"] == 3 and sum(p["alive"] for p in stats["pods"]) == 1
            for arrival in range(20):
                api.cookies.clear()  # twenty participants, each in their own browser
                entry = await api.get(f"/x/cartpole/go?PROLIFIC_PID=p{arrival}&sw=1920&sh=1080")
                assert entry.status_code == 303 and entry.headers["location"].startswith("http://pods.example/honest/")
