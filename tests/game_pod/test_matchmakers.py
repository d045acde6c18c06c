"""Who plays with whom on a live pod: a researcher's matchmaker from the bundle, one that fails, ping exclusion."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import yaml
from test_groups import NAME, check_group_steps, events, group_manifest, sessions, until

from gymkube.bot import ParticipantBot

REPO = Path(__file__).resolve().parents[2]

TEAMS = '''
"""A researcher's matchmaker: participants of one TEAM play together, the later arrival as blue."""


class ByTeam:
    def __init__(self):
        self.asked = 0

    def match(self, waiting, size, seats):
        self.asked += 1
        by_team = {}
        for person in waiting:  # earliest first
            by_team.setdefault(person["url_params"].get("TEAM"), []).append(person["participant"])
        groups = []
        for members in by_team.values():
            while len(members) >= size:
                first, second = members.pop(0), members.pop(0)
                groups.append({seats[0]: second, seats[1]: first})
        return groups


class Broken:
    def match(self, waiting, size, seats):
        raise KeyError("skill")
'''


def matchmaker_manifest(tmp_path: Path, matchmaker: str, **group: Any) -> Path:
    """The pairs example with the bundle copied and a matchmakers module added; TEAM is recorded."""
    bundle = tmp_path / "bundle"
    shutil.copytree(REPO / "examples" / "forage", bundle, ignore=shutil.ignore_patterns("__pycache__"))
    (bundle / "matchmakers.py").write_text(TEAMS)
    path = group_manifest(tmp_path, group={"matchmaker": matchmaker, **group})
    document = yaml.safe_load(path.read_text())
    document["spec"]["bundle"] = str(bundle)
    document["spec"]["recruitment"]["recordParams"].append("TEAM")
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def team_bots(platform: Any, teams: list[str]) -> list[ParticipantBot]:
    return [
        ParticipantBot(platform.entry(NAME, PROLIFIC_PID=f"p{i}", TEAM=team), seed=i) for i, team in enumerate(teams)
    ]


async def arrive_one_by_one(bots: list[ParticipantBot]) -> None:
    tasks = []
    for bot in bots:  # one at a time, so arrival order is known
        tasks.append(asyncio.create_task(bot.run(90)))
        await until(lambda b=bot: b.waiting or b.agent, what="the bot to reach the waiting room")
    await asyncio.gather(*tasks)


def test_a_researchers_matchmaker_from_the_bundle_decides_groups_and_seats(platform_factory, tmp_path):
    platform = platform_factory(matchmaker_manifest(tmp_path, "matchmakers:ByTeam"))
    bots = team_bots(platform, ["a", "b", "a", "b"])
    asyncio.run(arrive_one_by_one(bots))
    assert all(b.completion_code and b.end_reason is None for b in bots)
    assert [b.agent for b in bots] == ["red", "red", "blue", "blue"]  # the later arrival of each team as blue
    data = platform.finish(NAME)
    pairs = sorted(sorted((e["participant_blue"], e["participant_red"])) for e in data["episodes"])
    assert pairs == [["p0", "p2"], ["p1", "p3"]]  # fifo would have paired p0 with p1
    assert {e["detail"]["matchmaker"] for e in events(data, "group_formed")} == {"custom"}
    assert {json.loads(s["groups"])["forage"]["matchmaker"] for s in data["sessions"]} == {"custom"}
    check_group_steps(data, bots)


def test_a_matchmaker_that_raises_is_reported_and_fifo_forms_the_groups(platform_factory, tmp_path):
    platform = platform_factory(matchmaker_manifest(tmp_path, "matchmakers:Broken"))
    bots = team_bots(platform, ["a", "b", "a", "b"])

    async def main() -> list[dict[str, Any]]:
        await arrive_one_by_one(bots)
        return await asyncio.to_thread(platform.admin_overview)

    overview = asyncio.run(main())
    assert all(b.completion_code and b.end_reason is None for b in bots)
    errors = [e for x in overview["experiments"] for e in x.get("errors", [])]
    assert any("matchmakers:Broken failed" in e["what"] and "KeyError: 'skill'" in e["detail"] for e in errors), errors
    data = platform.finish(NAME)
    pairs = sorted(sorted((e["participant_blue"], e["participant_red"])) for e in data["episodes"])
    assert pairs == [["p0", "p1"], ["p2", "p3"]]
    assert {e["detail"]["matchmaker"] for e in events(data, "group_formed")} == {"fifo"}


def test_a_participant_whose_connection_stays_slow_is_warned_then_excluded(platform_factory, tmp_path):
    manifest = group_manifest(tmp_path, maxSteps=600, group={"onDropout": "fallback"})
    document = yaml.safe_load(manifest.read_text())
    document["spec"]["attention"] = {"maxRttMs": 250, "warnAfterS": 1.5, "excludeAfterS": 4}
    manifest.write_text(yaml.safe_dump(document))
    platform = platform_factory(manifest)

    async def main() -> list[ParticipantBot]:
        slow, steady = (ParticipantBot(platform.entry(NAME, PROLIFIC_PID=f"p{i}"), seed=i) for i in range(2))
        tasks = [asyncio.create_task(b.run(60)) for b in (slow, steady)]
        await slow.wait_for_states(30)
        slow.extra_rtt_ms = 400.0  # the connection gets slow mid-game
        await asyncio.gather(*tasks)
        return [slow, steady]

    slow, steady = asyncio.run(main())
    assert slow.end_reason == "excluded" and slow.completion_code
    assert any("connection to the study is slow" in n for n in slow.notices)
    assert steady.end_reason is None and steady.completion_code
    assert [n for n in steady.notices if "slow" in n] == [] and any("computer plays" in n for n in steady.notices)
    data = platform.finish(NAME)
    (warning,) = [e for e in events(data, "rtt_warning") if e["participant"] == "p0"]
    (excluded,) = events(data, "excluded")
    assert excluded["participant"] == "p0" and excluded["detail"]["by"] == "connection"
    assert warning["detail"]["limit_ms"] == 250 and warning["detail"]["rtt_ms"] >= 400
    assert 1.5 <= warning["detail"]["over_s"] < excluded["detail"]["over_s"] and excluded["detail"]["over_s"] >= 4
    assert warning["t_ns"] < excluded["t_ns"]
    assert sessions(data)["p0"]["end_reason"] == "excluded" and sessions(data)["p1"]["status"] == "completed"
    assert {r[f"source_{slow.agent}"] for r in data["steps"]} >= {"fallback"}
