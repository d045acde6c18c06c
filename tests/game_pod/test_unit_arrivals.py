"""An arrival stays counted by the router until its session is in the pod's memory.

The router counts an arrival it sent to a pod (`pending`) until the pod's load report names it in
`arrived`; the pod counts a connected participant heading to a group in `ungrouped`. If the report
named the arrival while its progress was still loading, a forming group would look empty to the
router for that moment, and the next arrival would open a group on another pod (seen in CI under
load: two groups of a three-player study waited alone on two pods and were filled by fallbacks).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from conftest import EXAMPLES

from gymkube.game_pod.app import build_app
from gymkube.game_pod.settings import PodSettings


def claims(participant: str, arrival: int) -> dict[str, object]:
    return {"p": participant, "s": f"sess-{participant}", "n": arrival, "q": {}}


async def test_a_pod_reports_an_arrival_only_once_its_session_is_in_memory_or_refused(tmp_path: Path):
    settings = PodSettings(
        experiment_file=EXAMPLES / "forage_human_human.yaml", bundle_dir=EXAMPLES / "forage",
        storage=str(tmp_path / "storage"), spool_dir=tmp_path / "spool",
    )  # fmt: skip
    pod = build_app(settings).pod
    await pod.start()
    try:
        release = asyncio.Event()
        load = pod.progress_store.load

        async def slow_load(participant: str):  # storage through a busy control plane
            await release.wait()
            return await load(participant)

        pod.progress_store.load = slow_load  # type: ignore[method-assign]
        admitting = asyncio.create_task(pod.admit(claims("p1", 7)))
        await asyncio.sleep(0.05)
        assert not admitting.done()
        assert 7 not in pod.load()["arrived"], "while the progress loads, the router must keep counting arrival 7"
        release.set()
        session = await asyncio.wait_for(admitting, 10)
        assert session is not None and "p1" in pod.sessions
        assert 7 in pod.load()["arrived"]

        pod.stopping = True  # a refused arrival is reported too: the router stops holding its place
        assert await pod.admit(claims("p2", 8)) is None
        assert 8 in pod.load()["arrived"]
    finally:
        pod.stopping = False
        await pod.close()
