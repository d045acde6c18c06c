"""Groups of participants: waiting rooms, roles, dropouts and reconnection, with bots over real socket.io."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import yaml
from conftest import quick_manifest
from datacheck import assert_one_row_per_tick, expected_human_actions, steps_by_episode

from gymkube.bot import ParticipantBot

KEYS = {"ArrowUp": 1, "ArrowDown": 2, "ArrowLeft": 3, "ArrowRight": 4}
NAME = "forage-pairs"


def group_manifest(tmp_path: Path, group: dict[str, Any] | None = None, agents: int = 2, **gym: Any) -> Path:
    """The two-human example, fast: no reading pauses or countdown; `group` rules merged in.

    With `agents=3` a third human seat (green) joins: a 3-player group.
    """
    gym = {"episodes": 1, "maxSteps": 45, "fps": 30, "reconnectGraceS": 5, **gym}
    path = quick_manifest(tmp_path, "forage_human_human.yaml", **gym)
    document = yaml.safe_load(path.read_text())
    scene = next(s for s in document["spec"]["scenes"] if s["type"] == "gym")
    scene["group"] = {**scene["group"], "maxLatencyMs": None, "maxWaitS": 30, **(group or {})}
    if agents == 3:
        scene["environment"]["kwargs"]["agents"] = ["blue", "red", "green"]
        green = {**scene["players"]["red"], "label": "Green", "color": "#8250df"}
        scene["players"]["green"] = green | {"fallback": {**green["fallback"], "observation": {"key": "green"}}}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def bots_for(platform: Any, count: int, start: int = 0, **options: Any) -> list[ParticipantBot]:
    return [
        ParticipantBot(platform.entry(NAME, PROLIFIC_PID=f"p{i}"), seed=i, **options)
        for i in range(start, start + count)
    ]


async def until(condition: Any, timeout_s: float = 20.0, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def events(data: dict[str, list[dict[str, Any]]], kind: str) -> list[dict[str, Any]]:
    return [e | {"detail": json.loads(e["detail"])} for e in data["events"] if e["kind"] == kind]


def sessions(data: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    return {s["participant"]: s for s in data["sessions"]}


def check_group_steps(data: dict[str, list[dict[str, Any]]], bots: list[ParticipantBot], fps: int = 30) -> None:
    """One row per tick per group game, and each human's actions match what their own bot sent."""
    assert_one_row_per_tick(data["steps"], data["episodes"], fps=fps)
    by_participant = {b.entry_url.rsplit("=", 1)[1]: b for b in bots}
    for rows in steps_by_episode(data["steps"]).values():
        for bot_id, bot in by_participant.items():
            agent = next((a for a in ("blue", "red", "green") if rows[0].get(f"participant_{a}") == bot_id), None)
            if agent is None:
                continue
            assert bot.agent == agent, f"{bot_id} was told it plays {bot.agent}, the data says {agent}"
            expected = expected_human_actions(rows, agent, bot.inputs, KEYS, 0)
            assert [(r[f"action_{agent}"], r[f"source_{agent}"]) for r in rows] == expected


def test_a_pair_waits_for_each_other_then_plays_one_game_each_as_their_own_agent(platform_factory, tmp_path):
    platform = platform_factory(group_manifest(tmp_path))

    async def main() -> list[ParticipantBot]:
        first, second = bots_for(platform, 2)
        task = asyncio.create_task(first.run(60))
        await until(lambda: first.waiting, what="the first participant to wait")
        await asyncio.sleep(0.5)  # alone in the waiting room for a while
        await second.run(60)
        await task
        return [first, second]

    bots = asyncio.run(main())
    assert bots[0].waiting[0] | {"remaining": 0} == {
        "scene": "forage", "have": 1, "size": 2, "remaining": 0, "gate": None
    }  # fmt: skip
    assert {b.agent for b in bots} == {"blue", "red"}
    for bot in bots:
        assert [p["you"] for p in bot.players if p["agent"] == bot.agent] == [True]
        assert bot.completion_code and bot.end_reason is None
    data = platform.finish(NAME)
    (episode,) = data["episodes"]
    assert episode["status"] == "truncated" and episode["steps"] == 45 and episode["participant"] is None
    assert {r["group"] for r in data["steps"]} == {episode["group"]}
    check_group_steps(data, bots)
    rows = sessions(data)
    for bot in bots:
        row = rows[bot.entry_url.rsplit("=", 1)[1]]
        formed = json.loads(row["groups"])["forage"]
        assert row["status"] == "completed" and formed["group"] == episode["group"] and formed["agent"] == bot.agent
    assert rows["p0"]["wait_s"] >= 0.5 > rows["p1"]["wait_s"]
    players = json.loads(episode["players"])
    assert {players[a]["participant"] for a in ("blue", "red")} == {"p0", "p1"}


def test_groups_of_three_fill_in_arrival_order_and_play(platform_factory, tmp_path):
    manifest = group_manifest(tmp_path, agents=3, group={"roles": "arrival"})
    platform = platform_factory(manifest)

    async def main() -> list[ParticipantBot]:
        bots = bots_for(platform, 6)
        tasks = []
        for bot in bots:  # one at a time, so arrival order is known
            tasks.append(asyncio.create_task(bot.run(90)))
            await until(lambda b=bot: b.waiting or b.agent, what="the bot to reach the waiting room")
        await asyncio.gather(*tasks)
        return bots

    bots = asyncio.run(main())
    assert [b.agent for b in bots] == ["blue", "red", "green"] * 2
    assert all(b.completion_code and b.end_reason is None for b in bots)
    seen = [w["have"] for w in bots[0].waiting]  # the first waiter watched the room fill (and repeats)
    assert seen[0] == 1 and seen == sorted(seen) and set(seen) <= {1, 2}
    data = platform.finish(NAME)
    assert len(data["episodes"]) == 2 and len({e["group"] for e in data["episodes"]}) == 2
    check_group_steps(data, bots)
    groups = [{e["participant_blue"], e["participant_red"], e["participant_green"]} for e in data["episodes"]]
    assert sorted(map(sorted, groups)) == [["p0", "p1", "p2"], ["p3", "p4", "p5"]]


def test_past_the_longest_wait_the_fallback_players_fill_the_empty_seats(platform_factory, tmp_path):
    platform = platform_factory(group_manifest(tmp_path, group={"maxWaitS": 1.5, "onWaitTimeout": "fallback"}))
    bot = asyncio.run(bots_for(platform, 1)[0].run(60))
    assert bot.completion_code and bot.end_reason is None
    assert [p["kind"] for p in bot.players if p["agent"] != bot.agent] == ["ai"]
    data = platform.finish(NAME)
    other = "red" if bot.agent == "blue" else "blue"
    assert {r[f"source_{other}"] for r in data["steps"]} == {"fallback"}
    assert {r[f"participant_{other}"] for r in data["steps"]} == {None}
    (formed,) = events(data, "group_formed")
    assert formed["detail"]["empty"] == [other] and formed["detail"]["waited_s"] >= 1.5
    assert json.loads(data["episodes"][0]["players"])[other]["takeover"]["step"] == 0


def test_past_the_longest_wait_without_a_fallback_the_session_ends_with_its_own_code(platform_factory, tmp_path):
    platform = platform_factory(group_manifest(tmp_path, group={"maxWaitS": 1.0, "onWaitTimeout": "end"}))
    bot = asyncio.run(bots_for(platform, 1)[0].run(30))
    assert (bot.end_reason, bot.completion_code) == ("wait_timeout", "WAITED01")
    assert bot.scenes[-1]["redirect"].endswith("cc=WAITED01")
    platform.stop()
    data = platform.tables(NAME)
    row = sessions(data)["p0"]
    assert (row["status"], row["end_reason"], row["completion_code"]) == ("ended", "wait_timeout", "WAITED01")
    assert "steps" not in data
    (timeout,) = events(data, "wait_timeout")
    assert timeout["detail"]["waited_s"] >= 1.0


def test_a_participant_leaving_the_waiting_room_frees_their_seat(platform_factory, tmp_path):
    platform = platform_factory(group_manifest(tmp_path))

    async def main() -> list[ParticipantBot]:
        leaver, first, second = bots_for(platform, 3)
        await leaver.enter()
        await leaver.connect()
        await until(lambda: leaver.waiting, what="the leaver to wait")
        await leaver.disconnect()
        await asyncio.sleep(0.3)
        await asyncio.gather(first.run(60), second.run(60))
        return [leaver, first, second]

    leaver, first, second = asyncio.run(main())
    assert leaver.agent is None and {first.agent, second.agent} == {"blue", "red"}
    data = platform.finish(NAME)
    (left,) = events(data, "waiting_leave")
    assert left["participant"] == "p0" and left["detail"]["why"] == "disconnected"
    (episode,) = data["episodes"]
    assert {episode["participant_blue"], episode["participant_red"]} == {"p1", "p2"}


def play_until_drop(platform: Any, away_s: float, come_back: bool) -> tuple[ParticipantBot, ParticipantBot, Any]:
    """Two bots play; the first drops mid-game for `away_s` (then a reloaded page comes back, or not)."""

    async def main() -> tuple[ParticipantBot, ParticipantBot, Any]:
        leaver, stayer = bots_for(platform, 2)
        stay = asyncio.create_task(stayer.run(60))
        await leaver.enter()
        await leaver.connect()
        await leaver.wait_for_states(10)
        await leaver.disconnect()
        await asyncio.sleep(away_s)
        back = await leaver.twin().run(60) if come_back else None
        await stay
        return leaver, stayer, back

    return asyncio.run(main())


def test_a_player_who_drops_and_comes_back_within_the_grace_period_plays_on_in_the_same_game(
    platform_factory, tmp_path
):
    platform = platform_factory(group_manifest(tmp_path, maxSteps=90, reconnectGraceS=5))
    leaver, stayer, back = play_until_drop(platform, away_s=1.0, come_back=True)
    assert back.first_state["g"] == leaver.last_state["g"] and back.agent == leaver.agent
    assert back.completion_code and stayer.completion_code and stayer.end_reason is None
    assert any("Blue" in n or "Red" in n for n in stayer.notices)
    assert any(n.endswith("is back.") for n in stayer.notices)
    data = platform.finish(NAME)
    (episode,) = data["episodes"]
    assert episode["status"] == "truncated" and episode["steps"] == 90
    sources = [r[f"source_{leaver.agent}"] for r in sorted(data["steps"], key=lambda r: r["step"])]
    first_absent = sources.index("absent")
    absent = sources[first_absent:].index("default") if "default" in sources[first_absent:] else None
    assert sources.count("absent") >= 20, "about one second at 30 fps played with the default action"
    assert set(sources[:first_absent]) <= {"human", "default"} and absent is not None
    (drop,) = events(data, "drop")
    reconnect = [e for e in events(data, "reconnect") if e["participant"] == "p0"]
    assert drop["detail"]["agent"] == leaver.agent and drop["detail"]["grace_s"] == 5
    assert reconnect and reconnect[0]["detail"]["away_s"] >= 1.0
    assert sessions(data)["p0"]["drops"] == 1


def test_past_the_grace_period_the_fallback_takes_the_seat_and_the_partner_plays_on(platform_factory, tmp_path):
    manifest = group_manifest(tmp_path, maxSteps=90, reconnectGraceS=0.5, group={"onDropout": "fallback"})
    platform = platform_factory(manifest)
    leaver, stayer, back = play_until_drop(platform, away_s=1.5, come_back=True)
    assert stayer.completion_code and stayer.end_reason is None
    assert any("did not come back" in n and "computer plays" in n for n in stayer.notices)
    assert (back.end_reason, back.completion_code) == ("dropped", "AWAY0001")
    data = platform.finish(NAME)
    (episode,) = data["episodes"]
    assert episode["status"] == "truncated" and episode["steps"] == 90
    sources = [r[f"source_{leaver.agent}"] for r in sorted(data["steps"], key=lambda r: r["step"])]
    assert sources[-1] == "fallback" and "absent" in sources
    takeover = json.loads(episode["players"])[leaver.agent]["takeover"]
    assert sources.index("fallback") == takeover["step"] and takeover["left"] == "p0"
    named = [r[f"participant_{leaver.agent}"] for r in sorted(data["steps"], key=lambda r: r["step"])]
    assert set(named[: takeover["step"]]) == {"p0"} and set(named[takeover["step"] :]) == {None}
    (left,) = events(data, "left_group")
    assert left["detail"] | {"game": None} == {
        "game": None, "group": episode["group"], "agent": leaver.agent, "reason": "dropped", "decision": "fallback"
    }  # fmt: skip
    rows = sessions(data)
    assert (rows["p0"]["status"], rows["p0"]["end_reason"]) == ("ended", "dropped")
    assert rows["p1"]["status"] == "completed"


def test_past_the_grace_period_the_game_can_end_for_everyone_with_codes_that_say_why(platform_factory, tmp_path):
    manifest = group_manifest(tmp_path, maxSteps=300, reconnectGraceS=0.5, group={"onDropout": "end"})
    platform = platform_factory(manifest)
    leaver, stayer, back = play_until_drop(platform, away_s=1.5, come_back=True)
    assert (stayer.end_reason, stayer.completion_code) == ("partner_left", "PARTNER1")
    assert any("has to end" in n for n in stayer.notices)
    assert (back.end_reason, back.completion_code) == ("dropped", "AWAY0001")
    data = platform.finish(NAME)
    (episode,) = data["episodes"]
    assert episode["status"] == "dropout" and 0 < episode["steps"] < 300
    assert_one_row_per_tick(data["steps"], data["episodes"], fps=30)
    rows = sessions(data)
    assert rows["p1"]["end_reason"] == "partner_left" and rows["p0"]["end_reason"] == "dropped"
    (partner,) = events(data, "partner_left")
    assert partner["participant"] == "p1" and partner["detail"]["partner"] == "p0"


def test_a_second_tab_of_a_group_player_is_refused_and_the_game_plays_on(platform_factory, tmp_path):
    platform = platform_factory(group_manifest(tmp_path, maxSteps=60))

    async def main() -> tuple[list[ParticipantBot], ParticipantBot]:
        bots = bots_for(platform, 2)
        tasks = [asyncio.create_task(b.run(60)) for b in bots]
        await bots[0].wait_for_states(5)
        second_tab = bots[0].twin()
        await second_tab.connect()
        await until(lambda: second_tab.refused, what="the refusal")
        await second_tab.disconnect()
        await asyncio.gather(*tasks)
        return bots, second_tab

    bots, second_tab = asyncio.run(main())
    assert second_tab.refused["reason"] == "duplicate"
    assert all(b.completion_code and b.end_reason is None for b in bots)
    data = platform.finish(NAME)
    assert events(data, "duplicate_refused") and not events(data, "drop")
    check_group_steps(data, bots)


def test_the_latency_gate_only_groups_participants_with_a_fast_connection(platform_factory, tmp_path):
    manifest = group_manifest(tmp_path, group={"maxLatencyMs": 200, "maxWaitS": 4, "onWaitTimeout": "end"})
    platform = platform_factory(manifest)

    async def main() -> list[ParticipantBot]:
        (slow,) = bots_for(platform, 1, extra_rtt_ms=400)
        fast = bots_for(platform, 2, start=1)
        slow_task = asyncio.create_task(slow.run(30))
        await until(lambda: slow.waiting, what="the slow participant to wait")
        await asyncio.gather(*(b.run(30) for b in fast))
        await slow_task
        return [slow, *fast]

    slow, *fast = asyncio.run(main())
    assert slow.end_reason == "wait_timeout" and any(w["gate"] == "latency" for w in slow.waiting)
    assert {b.agent for b in fast} == {"blue", "red"} and all(b.end_reason is None for b in fast)


def test_leaving_the_page_too_often_excludes_the_participant_and_the_fallback_plays_on(platform_factory, tmp_path):
    manifest = group_manifest(tmp_path, maxSteps=120, group={"onDropout": "fallback"})
    document = yaml.safe_load(manifest.read_text())
    document["spec"]["attention"] = {"maxHidden": 2}
    manifest.write_text(yaml.safe_dump(document))
    platform = platform_factory(manifest)

    async def main() -> list[ParticipantBot]:
        wanderer, stayer = bots_for(platform, 2)
        tasks = [asyncio.create_task(b.run(60)) for b in (wanderer, stayer)]
        await wanderer.wait_for_states(5)
        for _ in range(3):
            await wanderer.sio.emit("telemetry", {"kind": "visibility", "state": "hidden", "t": 0})
        await asyncio.gather(*tasks)
        return [wanderer, stayer]

    wanderer, stayer = asyncio.run(main())
    assert wanderer.end_reason == "excluded" and wanderer.completion_code.startswith("EXCL")
    assert stayer.end_reason is None and stayer.completion_code
    data = platform.finish(NAME)
    assert sessions(data)["p0"]["end_reason"] == "excluded"
    assert {r[f"source_{wanderer.agent}"] for r in data["steps"]} >= {"fallback"}


def test_twelve_participants_for_three_player_groups_over_three_pods_form_four_groups_each_on_one_pod(
    platform_factory, tmp_path
):
    manifest = group_manifest(tmp_path, agents=3, maxSteps=30)
    document = yaml.safe_load(manifest.read_text())
    document["spec"].update(replicas=3, capacity=12)
    manifest.write_text(yaml.safe_dump(document))
    platform = platform_factory(manifest)

    async def main() -> list[ParticipantBot]:
        bots = bots_for(platform, 12)
        await asyncio.gather(*(b.run(90) for b in bots))
        return bots

    bots = asyncio.run(main())
    assert all(b.completion_code and b.end_reason is None for b in bots)
    data = platform.finish(NAME)
    pod_of = {s["participant"]: s["pod"] for s in data["sessions"]}
    assert len(set(pod_of.values())) == 3, "the burst spreads over the three pods"
    groups = [[e[f"participant_{a}"] for a in ("blue", "red", "green")] for e in data["episodes"]]
    assert len(groups) == 4 and sorted(p for g in groups for p in g) == sorted(f"p{i}" for i in range(12))
    for members in groups:
        assert None not in members, "every seat is a participant: no group waited for a fallback"
        assert len({pod_of[p] for p in members}) == 1, f"group {members} is split over pods"
    check_group_steps(data, bots)
