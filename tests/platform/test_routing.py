"""Routing participants across three local game pods: sticky, spread, re-routed, full."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import yaml
from conftest import quick_manifest

from gymkube.bot import ParticipantBot
from gymkube.platform.routing import PodInfo, Router
from gymkube.platform.runtime.base import PodEndpoint


def pod_of(platform, participant: str) -> str:
    reply = httpx.get(platform.entry("cartpole", PROLIFIC_PID=participant))
    assert reply.status_code == 303, reply.text
    return urlsplit(reply.headers["location"]).netloc


def three_pods(tmp_path: Path, capacity: int) -> Path:
    manifest = quick_manifest(tmp_path, "cartpole.yaml")
    document = yaml.safe_load(manifest.read_text())
    document["spec"].update(replicas=3, capacity=capacity)
    manifest.write_text(yaml.safe_dump(document))
    return manifest


def test_participants_spread_over_three_pods_stick_to_theirs_and_move_when_it_dies(platform_factory, tmp_path: Path):
    platform = platform_factory(three_pods(tmp_path, capacity=50))
    homes = {f"p{i}": pod_of(platform, f"p{i}") for i in range(9)}
    assert sorted(list(homes.values()).count(pod) for pod in set(homes.values())) == [3, 3, 3]
    assert all(pod_of(platform, p) == home for p, home in homes.items()), "returning participants stick"

    frozen_port = int(homes["p0"].split(":")[1])
    (frozen,) = [pid for pid in platform.pod_pids() if f"{frozen_port}" in _listening_ports(pid)]
    os.kill(frozen, signal.SIGSTOP)  # the pod stops answering, as a hung or lost pod does
    try:
        deadline = time.monotonic() + 10
        while pod_of(platform, "p0") == homes["p0"] and time.monotonic() < deadline:
            time.sleep(0.3)
        moved = pod_of(platform, "p0")
        assert moved != homes["p0"], "a participant whose pod is gone is sent to a live one"
        assert pod_of(platform, "p0") == moved
        assert all(pod_of(platform, f"new{i}") != homes["p0"] for i in range(6))
    finally:
        os.kill(frozen, signal.SIGCONT)


def _listening_ports(pid: int) -> str:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        target = os.readlink(fd)
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = []
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and fields[9] in inodes:
            ports.append(str(int(fields[1].split(":")[1], 16)))
    return " ".join(ports)


def test_a_full_study_shows_a_friendly_page(platform_factory, tmp_path: Path):
    platform = platform_factory(three_pods(tmp_path, capacity=1))

    async def main() -> tuple[int, str]:
        bots = [ParticipantBot(platform.entry("cartpole", PROLIFIC_PID=f"b{i}")) for i in range(3)]
        for bot in bots:
            await bot.enter()
            await bot.connect()
        await asyncio.sleep(2.5)  # the pods report their load to the control plane every second
        async with httpx.AsyncClient() as client:
            reply = await client.get(platform.entry("cartpole", PROLIFIC_PID="late"))
        for bot in bots:
            await bot.sio.disconnect()
        return reply.status_code, reply.text

    status, text = asyncio.run(main())
    assert status == 503 and "Study full" in text and "come back later" in text


def test_the_router_answers_from_memory_and_skips_dead_and_draining_pods():
    router = Router(2)
    router.pods = {n: PodInfo(n, f"http://{n}/", 2) for n in ("a", "b", "c")}
    assert [router.route(f"p{i}").name for i in range(3)] == ["a", "b", "c"]
    router.mark_dead("a")
    router.report("b", participants=0, draining=True)
    assert router.route("p0").name == "c", "p0's pod is dead: re-routed to the pod with room"
    assert router.route("p3") is None, "b drains and c is now full"


def test_once_the_target_is_reached_newcomers_see_that_the_study_is_complete(platform_factory, tmp_path: Path):
    manifest = quick_manifest(tmp_path, "cartpole.yaml", maxSteps=10, episodes=1)
    document = yaml.safe_load(manifest.read_text())
    document["spec"]["targetParticipants"] = 2
    manifest.write_text(yaml.safe_dump(document))
    platform = platform_factory(manifest)

    async def finish_two() -> list[ParticipantBot]:
        bots = [ParticipantBot(platform.entry("cartpole", PROLIFIC_PID=f"t{i}"), seed=i) for i in range(2)]
        return await asyncio.gather(*(bot.run(60) for bot in bots))

    assert all(bot.completion_code for bot in asyncio.run(finish_two()))
    time.sleep(2.5)  # the pods report their counts every second
    reply = httpx.get(platform.entry("cartpole", PROLIFIC_PID="late"))
    assert reply.status_code == 410
    assert "Study complete" in reply.text
    assert httpx.get(platform.entry("cartpole", PROLIFIC_PID="t0")).status_code == 303, "returning is fine"


def test_groups_route_in_blocks_and_a_short_waiting_room_is_filled_before_a_new_block_opens():
    router = Router(capacity=10, group_size=3)
    router.sync([PodEndpoint(name, f"http://{name}/", "x", 1) for name in "abc"], 10, 3)
    first = [router.route(f"p{i}").name for i in range(6)]
    assert first[:3] == [first[0]] * 3 and first[3:] == [first[3]] * 3 and first[0] != first[3]
    # Later, every pod has reported; one of p0's group never reached the waiting room on pod a.
    for pod in router.pods.values():
        pod.pending.clear()
    router.report(first[0], participants=2, draining=False, ungrouped=2)
    router.report(first[3], participants=3, draining=False, ungrouped=3)
    assert router.route("late").name == first[0], "the short waiting room is filled first"


def test_a_group_is_never_split_when_pods_fill_up_and_a_dead_pod_closes_its_block():
    router = Router(capacity=3, group_size=2)
    router.sync([PodEndpoint(name, f"http://{name}/", "x", 1) for name in "ab"], 3, 2)
    homes = [router.route(f"p{i}").name for i in range(4)]
    assert homes[0] == homes[1] != homes[2] == homes[3]
    assert router.route("p4") is None, "no pod has room for a whole pair: full, rather than waiting alone"
    router.sync([PodEndpoint(name, f"http://{name}/", "x", 1) for name in "abc"], 3, 2)
    opened = router.route("p5").name
    assert opened == "c" and router.pods["c"].block == 1
    router.mark_dead("c")
    assert router.pods["c"].block == 0 and router.route("p6") is None
