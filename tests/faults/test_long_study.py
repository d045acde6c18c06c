"""A long study through one pod: twenty times its capacity in participants, one after another.

Admission counts who is here now, so the pod takes every one of them (it used to refuse everyone
after its capacity-th participant ever), turns away only who would be one too many at once, and
its memory stays flat because finished and gone sessions leave it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import psutil
import yaml
from conftest import game_pod_process, quick_manifest

from gymkube.bot import ParticipantBot
from gymkube.game_pod.presence import LINGER_S
from gymkube.integrity.check import check_experiment
from gymkube.keys import token_key
from gymkube.storage import LocalStorage
from gymkube.tokens import sign_token

SECRET = "long-study-secret"
CAPACITY = 2
PARTICIPANTS = 20 * CAPACITY
RSS_GROWTH_LIMIT_MB = 25


def pod_process() -> psutil.Process:
    (pod,) = [p for p in psutil.Process().children() if "game-pod" in p.cmdline()]
    return pod


def bot(base: str, name: str, **options: object) -> ParticipantBot:
    participant = ParticipantBot("unused", seed=len(name), **options)  # type: ignore[arg-type]
    participant.pod_url = f"{base}/"
    participant.token = sign_token(token_key(SECRET), {"x": "cartpole", "p": name, "s": f"s-{name}", "n": 0, "q": {}})
    return participant


def test_twenty_times_capacity_one_after_another_are_all_admitted_finish_and_memory_stays_flat(tmp_path: Path):
    document = yaml.safe_load(quick_manifest(tmp_path, "cartpole.yaml", episodes=1, maxSteps=15).read_text())
    document["spec"]["capacity"] = CAPACITY
    with game_pod_process(tmp_path, document, secret=SECRET) as port:
        base = f"http://127.0.0.1:{port}"
        pod = pod_process()

        async def study() -> tuple[list[ParticipantBot], ParticipantBot, list[float], dict]:
            # Two at a time fill the pod: a third is told it is busy.
            holders = [bot(base, f"hold-{n}", stop_at="consent") for n in range(CAPACITY)]
            await asyncio.gather(*(b.connect() for b in holders))
            await asyncio.wait_for(asyncio.gather(*(b.done.wait() for b in holders)), 10)
            third = await bot(base, "refused").run(10)
            for b in holders:
                await b.disconnect()

            finished: list[ParticipantBot] = []
            rss: list[float] = []

            async def one_after_another(lane: int) -> None:
                for n in range(PARTICIPANTS // CAPACITY):
                    participant = await bot(base, f"p{lane}-{n}").run(60)
                    finished.append(participant)
                    rss.append(pod.memory_info().rss / 2**20)

            await asyncio.gather(*(one_after_another(lane) for lane in range(CAPACITY)))
            late = await bot(base, "after-everyone").run(60)
            deadline = time.monotonic() + LINGER_S + 5  # gone sessions leave memory after LINGER_S
            while (load := httpx.get(f"{base}/load").json())["in_memory"] and time.monotonic() < deadline:
                await asyncio.sleep(0.5)
            return [*finished, late], third, rss, load

        finished, refused, rss, load = asyncio.run(study())

    assert refused.refused is not None and refused.refused["reason"] == "busy", "a third at once is one too many"
    assert len(finished) == PARTICIPANTS + 1 and all(b.refused is None for b in finished), "all were admitted"
    assert all(b.completion_code for b in finished), "all finished with a code"
    assert load["participants"] <= 1 and load["completed"] == PARTICIPANTS + 1
    assert load["in_memory"] == 0, f"finished and gone sessions left memory: {load}"
    warm, end = max(rss[CAPACITY * 3 : CAPACITY * 6]), max(rss[-CAPACITY * 3 :])
    assert end - warm < RSS_GROWTH_LIMIT_MB, f"RSS grew from {warm:.0f} to {end:.0f} MB: {rss}"

    report = check_experiment(LocalStorage(tmp_path / "storage"), "cartpole")
    assert report.ok, report.render()
    assert report.sessions >= PARTICIPANTS + 1
