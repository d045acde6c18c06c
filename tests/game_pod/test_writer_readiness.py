"""A pod whose data writer dies says so: not ready, takes no one new, and comes back once it writes again."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from conftest import EXAMPLES

from gymkube.game_pod.app import build_app
from gymkube.game_pod.settings import PodSettings


async def wait_for(condition: Callable[[], Awaitable[bool]], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not await condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_a_dead_writer_makes_the_pod_unready_and_full_until_it_writes_again(tmp_path: Path):
    settings = PodSettings(
        experiment_file=EXAMPLES / "cartpole.yaml", storage=str(tmp_path / "storage"),
        spool_dir=tmp_path / "spool", flush_interval_s=0.05,
    )  # fmt: skip
    app = build_app(settings)
    pod = app.pod
    await pod.start()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://pod")

    async def status_is(path: str, code: int) -> bool:
        return (await client.get(path)).status_code == code

    try:
        assert (await client.get("/readyz")).json() == {"ready": True}
        broken = True

        def spool(name: str, data: bytes) -> None:
            if broken:
                raise RuntimeError("the disk controller is on fire")
            type(pod.writer)._spool(pod.writer, name, data)

        pod.writer._spool = spool  # type: ignore[method-assign]
        pod.record("events", {"experiment": "cartpole", "participant": "p", "session": "s", "t_ns": 1,
                              "kind": "x", "detail": "{}"})  # fmt: skip
        await wait_for(lambda: status_is("/readyz", 503))
        assert "on fire" in (await client.get("/readyz")).json()["why"]
        load = (await client.get("/load")).json()
        assert not load["ready"] and load["draining"] and "on fire" in load["writer_error"]
        assert not pod.accepting, "no one new is admitted while the rows cannot be written"
        assert pod.writer.rows_written == 0, "nothing written while broken; the row waits in the buffer"

        broken = False
        await wait_for(lambda: status_is("/readyz", 200))
        load = (await client.get("/load")).json()
        assert load["ready"] and not load["draining"] and load["writer_error"] is None
        assert pod.writer.rows_written == 1 and pod.writer.restarts >= 1, "the row that waited is written"
    finally:
        await client.aclose()
        await pod.close()


@pytest.fixture(autouse=True)
def _quiet_writer_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("CRITICAL", logger="gymkube.storage.chunks")
