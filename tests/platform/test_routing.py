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

BROWSERS: dict[str, httpx.Client] = {}


def pod_of(platform, participant: str) -> str:
    """Where the entry sends a participant, from their own browser (its cookies kept between visits)."""
    browser = BROWSERS.setdefault(f"{platform.base}/{participant}", httpx.Client())
    reply = browser.get(platform.entry("cartpole", PROLIFIC_PID=participant))
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
        # Three participants who stay on the consent page: each holds their pod's one place.
        bots = [ParticipantBot(platform.entry("cartpole", PROLIFIC_PID=f"b{i}"), stop_at="consent") for i in range(3)]
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
    assert [router.route(n).name for n in range(3)] == ["a", "b", "c"], "the most free places first"
    assert router.route(1, "b").name == "b", "a returning participant goes back to the pod their cookie names"
    router.mark_dead("a")
    router.report("b", participants=1, draining=True, arrived=[1])
    assert router.route(1, "b").name == "b", "back to a draining pod: a game may be waiting for them"
    assert router.route(0, "a").name == "c", "their pod is dead: re-routed to the pod with room"
    assert router.route(3) is None, "b drains and c is now full"
    assert all(len(p.pending) <= p.capacity for p in router.pods.values()), "reservations stay bounded"


def test_an_arrival_counts_against_its_pod_until_the_pod_reports_it_connected_never_twice():
    router = Router(3)
    router.pods = {"a": PodInfo("a", "http://a/", 3)}
    for arrival in range(3):
        router.route(arrival)
    assert router.route(3) is None, "three on their way: full"
    router.report("a", participants=2, draining=False, arrived=[0, 1])
    assert router.pods["a"].free == 0, "two connected, one still on its way"
    router.report("a", participants=2, draining=False, arrived=[])
    assert router.route(4) is None, "still: the third is counted until it connects (or PENDING_S passes)"
    router.report("a", participants=2, draining=False, arrived=[2, 2, 99])  # 2 came and left again; 99 unknown
    assert router.route(5).name == "a"


def test_once_the_target_is_reached_newcomers_see_that_the_study_is_complete(platform_factory, tmp_path: Path):
    manifest = quick_manifest(tmp_path, "cartpole.yaml", maxSteps=10, episodes=1)
    document = yaml.safe_load(manifest.read_text())
    document["spec"]["targetParticipants"] = 2
    manifest.write_text(yaml.safe_dump(document))
    platform = platform_factory(manifest)

    async def finish_two() -> list[ParticipantBot]:
        bots = [ParticipantBot(platform.entry("cartpole", PROLIFIC_PID=f"t{i}"), seed=i) for i in range(2)]
        return await asyncio.gather(*(bot.run(60) for bot in bots))

    bots = asyncio.run(finish_two())
    assert all(bot.completion_code for bot in bots)
    time.sleep(2.5)  # the pods report their counts every second
    reply = httpx.get(platform.entry("cartpole", PROLIFIC_PID="late"))
    assert reply.status_code == 410
    assert "Study complete" in reply.text
    returning = httpx.get(platform.entry("cartpole", PROLIFIC_PID="t0"), cookies=bots[0].cookies)
    assert returning.status_code == 303, "returning (with the entry's cookie) is fine"


def replicas(count: int, pods: str, capacity: int, group_size: int) -> list[Router]:
    """Routers as `count` control plane replicas hold them: the same pods, each its own recent arrivals."""
    routers = [Router(capacity, group_size) for _ in range(count)]
    for router in routers:
        router.sync([PodEndpoint(name, f"http://{name}/", "x", 1) for name in pods], capacity, group_size)
    return routers


def report_everywhere(routers: list[Router], pod: str, participants: int, ungrouped: int) -> None:
    for router in routers:
        arrived = list(router.pods[pod].pending)  # the report now counts them
        router.report(pod, participants=participants, draining=False, ungrouped=ungrouped, arrived=arrived)


def test_replicas_send_the_members_of_a_group_to_one_pod_without_telling_each_other():
    """Arrivals alternate between two replicas, each seeing the pods' reports (one a second, the arrivals fewer)."""
    routers = replicas(2, "abc", capacity=6, group_size=3)
    waiting = dict.fromkeys("abc", 0)
    homes = []
    for arrival in range(9):
        home = routers[arrival % 2].route(arrival).name
        homes.append(home)
        waiting[home] = (waiting[home] + 1) % 3  # a waiting room of three starts its game and empties
        for pod in "abc":
            report_everywhere(routers, pod, participants=homes.count(pod), ungrouped=waiting[pod])
    groups = [homes[i : i + 3] for i in range(0, 9, 3)]
    assert all(len(set(group)) == 1 for group in groups), f"a group was split over pods: {homes}"
    assert len({group[0] for group in groups}) == 3, "new groups spread over the pods"


def test_a_short_waiting_room_is_filled_before_a_new_group_opens_and_a_group_is_never_split():
    routers = replicas(2, "ab", capacity=4, group_size=3)
    report_everywhere(routers, "a", participants=2, ungrouped=2)  # one of a group of three still missing on a
    report_everywhere(routers, "b", participants=0, ungrouped=0)
    assert routers[1].route(0).name == "a", "the forming group on a is completed first"
    report_everywhere(routers, "a", participants=3, ungrouped=0)
    assert routers[0].route(1).name == "b", "a has one place left, not enough for a new group of three"
    report_everywhere(routers, "b", participants=3, ungrouped=0)
    assert routers[1].route(2) is None, "no pod has room for a whole group: full, rather than waiting alone"
    routers[0].mark_dead("b")
    assert routers[0].route(1, "b") is None, "a returning participant of a dead pod finds no room either"
