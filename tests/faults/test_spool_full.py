"""Fault: the disk holding the pod's data spool fills up while participants play.

What must happen: a clear error in the log and the admin view; every running game ends at once
with the `technical` ending (a TECH code the participant can submit); the pod takes no one new;
rows keep going straight to storage, so nothing is lost and nothing already written is touched;
once space is freed the pod takes participants again.
"""

from __future__ import annotations

import asyncio
import errno
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import quick_manifest

from gymkube.bot import ParticipantBot

FPS = 30


@pytest.fixture
def small_spool_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MiB tmpfs where the first platform's pods keep their spool (set up before, removed after it)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    mount = tmp_path / "data0" / "spool"
    mount.mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk is full; returns it."""
    filler = disk / "filler"
    block = b"\0" * (1 << 16)
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(block)
                handle.flush()
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    return filler


def test_a_full_spool_disk_ends_games_gracefully_and_loses_nothing(small_spool_disk, platform_factory, tmp_path):
    manifest = quick_manifest(tmp_path, "forage_ai.yaml", episodes=3, maxSteps=100, fps=FPS)
    platform = platform_factory(manifest)

    async def play_until_the_disk_fills() -> list[ParticipantBot]:
        bots = [ParticipantBot(platform.entry("forage-ai", PROLIFIC_PID=f"full{i}"), seed=i) for i in range(3)]
        runs = [asyncio.create_task(bot.run(60)) for bot in bots]
        for bot in bots:
            await bot.wait_for_states(2 * FPS)
        await asyncio.to_thread(fill, small_spool_disk)
        return list(await asyncio.wait_for(asyncio.gather(*runs), 20))

    bots = asyncio.run(play_until_the_disk_fills())
    for bot in bots:
        assert bot.end_reason == "technical" and bot.completion_code.startswith("TECH"), (bot.end_reason, bot.scenes)
        assert "technical problem" in bot.scenes[-1]["html"]

    # The admin view says what is wrong, in words an admin can act on (after its next poll of the pod).
    for _ in range(50):
        (experiment,) = platform.admin_overview()["experiments"]
        (pod,) = experiment["pods"]
        if pod["storage_error"]:
            break
        time.sleep(0.1)
    assert "No space left on device" in pod["storage_error"] and "spool" in pod["storage_error"]
    assert pod["draining"] is True
    assert any("data spool cannot be written" in e["what"] for e in experiment["errors"])
    late = httpx.get(platform.entry("forage-ai", PROLIFIC_PID="late"), follow_redirects=False)
    assert late.status_code == 503 and "Study full" in late.text, "a full pod takes no one new"

    # Space is freed: the next flush spools again and the pod takes participants again.
    (small_spool_disk / "filler").unlink()
    deadline = time.monotonic() + 15
    while b"takes participants again" not in platform.log_path.read_bytes():
        assert time.monotonic() < deadline, "the pod never noticed the space was back"
        time.sleep(0.2)
    time.sleep(1.5)  # the control plane polls pod load every second
    after = asyncio.run(ParticipantBot(platform.entry("forage-ai", PROLIFIC_PID="after"), seed=9).run(60))
    assert after.completion_code and after.end_reason is None

    platform.stop()
    log = platform.log_path.read_bytes()
    assert b"cannot write the data spool" in log and b"No space left on device" in log
    platform.assert_data_sound("forage-ai")
    data = platform.tables("forage-ai")
    for i, bot in enumerate(bots):
        (stopped,) = [e for e in data["episodes"] if e["participant"] == f"full{i}" and e["status"] == "error"]
        where = (stopped["game"], stopped["episode"])
        steps = [r["step"] for r in data["steps"] if (r["game"], r["episode"]) == where]
        # Every step the participant saw is stored: the rows went straight to storage.
        assert sorted(steps) == list(range(1, stopped["steps"] + 1))
        assert stopped["steps"] >= int(bot.last_state["f"])
    assert {s["participant"]: s["end_reason"] for s in data["sessions"]} == {
        "full0": "technical", "full1": "technical", "full2": "technical", "after": None,
    }  # fmt: skip
