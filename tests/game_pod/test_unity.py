"""Unity scenes on the pod: what a build reports becomes rows once, in order, bounded; the scene ends as it should.

The bots report as the page's bridge does (gymkube.bot: start, steps with columns, end, done), with
the build-shaped fixture's files in the bundle (tests/fixtures/unity; the pod serves them, the bots
do not run them). Unit tests drive `UnityRun` directly for the cases a page would have to be modified
to send.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from conftest import ROOT
from pydantic import TypeAdapter

from gymkube.bot import ParticipantBot
from gymkube.game_pod.payloads import UnityEntry, UnityPayload
from gymkube.game_pod.progress import Progress
from gymkube.game_pod.unity import MAX_RUN_COLUMNS, MAX_SCENE_COLUMNS, MAX_STEPS, UnityRun
from gymkube.spec.scenes import UnityScene

sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "unity"))
from make_build import write_build  # noqa: E402

sys.path.remove(str(ROOT / "tests" / "fixtures" / "unity"))


def manifest(tmp_path: Path, **scene: Any) -> Path:
    write_build(tmp_path / "bundle" / "game")
    document = {
        "apiVersion": "gymkube.io/v1alpha1", "kind": "Experiment", "metadata": {"name": "unity-study"},
        "spec": {"bundle": str(tmp_path / "bundle"), "recruitment": {"participantParam": "PROLIFIC_PID"},
                 "scenes": [{"type": "unity", "id": "play", "build": "game/Build", **scene}, {"type": "end"}]},
    }  # fmt: skip
    path = tmp_path / "unity.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def test_bots_report_episodes_and_the_rows_check(platform_factory, tmp_path):
    platform = platform_factory(manifest(tmp_path))

    async def main() -> list[ParticipantBot]:
        bots = [ParticipantBot(platform.entry("unity-study", PROLIFIC_PID=f"u{i}"), seed=i) for i in range(3)]
        return list(await asyncio.gather(*(b.run(30) for b in bots)))

    bots = asyncio.run(main())
    assert all(b.completion_code for b in bots)
    assert [a for b in bots for a in b.unity_acks] == [{"ok": True, "n": 10, "error": None}] * 3
    platform.stop()
    assert platform.gymkube("check", "unity-study").returncode == 0
    data = platform.tables("unity-study")
    for who in ("u0", "u1", "u2"):
        episodes = sorted((e["episode"], e["steps"], e["status"]) for e in data["episodes"] if e["participant"] == who)
        assert episodes == [(1, 3, "terminated"), (2, 2, "terminated")]
        steps = sorted((s["episode"], s["step"], s["x"]) for s in data["steps"] if s["participant"] == who)
        assert steps == [(1, 1, 1), (1, 2, 2), (1, 3, 3), (2, 1, 1), (2, 2, 2)]


def test_the_time_limit_ends_the_scene_and_truncates_the_open_episode(platform_factory, tmp_path):
    platform = platform_factory(manifest(tmp_path, timeLimitS=5))

    async def main() -> tuple[ParticipantBot, float, list[dict[str, Any]]]:
        bot = ParticipantBot(platform.entry("unity-study", PROLIFIC_PID="slow"), unity_episodes=(), unity_done=False)
        started = time.monotonic()
        task = asyncio.create_task(bot.run(30))
        for _ in range(400):  # until the bot is shown the Unity scene (it reports nothing itself)
            if bot.scenes and bot.scenes[-1]["type"] == "unity":
                break
            await asyncio.sleep(0.05)
        now = time.time() * 1000
        entries = [{"kind": "start", "q": 1, "t": now}, {"kind": "step", "q": 2, "t": now, "c": {"hp": 3}}]
        acks = [await bot.sio.call("unity", {"s": "play", "x": entries})]
        await task
        return bot, time.monotonic() - started, acks

    bot, took, acks = asyncio.run(main())
    assert bot.completion_code and acks == [{"ok": True, "n": 2, "error": None}]
    assert took >= 4.5
    platform.stop()
    assert platform.gymkube("check", "unity-study").returncode == 0
    data = platform.tables("unity-study")
    (episode,) = data["episodes"]
    assert (episode["status"], episode["steps"]) == ("truncated", 1)
    ends = [json.loads(e["detail"])["why"] for e in data["events"] if e["kind"] == "unity_scene_end"]
    assert ends == ["time_limit"]


# UnityRun on its own ------------------------------------------------------------------------------


class FakePod:
    def __init__(self) -> None:
        self.rows: list[tuple[str, dict[str, Any]]] = []
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.writer = SimpleNamespace(request_flush=lambda: None)
        self.unity_columns: dict[str, set[str]] = {}

    def record(self, table: str, row: dict[str, Any]) -> None:
        self.rows.append((table, row))

    def save_soon(self, progress: Progress) -> None:
        pass

    def event(self, session: Any, kind: str, detail: dict[str, Any]) -> None:
        self.events.append((kind, detail))


def run(episodes: int | None = None, pod: FakePod | None = None) -> tuple[UnityRun, FakePod, list[str]]:
    pod, finished = pod or FakePod(), []
    progress = Progress(experiment="x", participant="p1", session="s1", ordinal=0, flow=["play", "end"])
    session = SimpleNamespace(progress=progress, pod=pod, row_ids=lambda: {"participant": "p1", "session": "s1"})
    scene = UnityScene(type="unity", id="play", build="b", episodes=episodes)
    return UnityRun(session, scene, finished.append), pod, finished  # type: ignore[arg-type]


ENTRIES: TypeAdapter[list[UnityEntry]] = TypeAdapter(list[UnityEntry])


def entries(*items: dict[str, Any]) -> list[UnityEntry]:
    return ENTRIES.validate_python([{"t": 1.7e12, **item} for item in items])


def test_an_entry_sent_again_is_taken_once_and_a_restarted_build_interrupts_the_open_episode() -> None:
    unity, pod, _ = run()
    batch = entries({"kind": "start", "q": 1}, {"kind": "step", "q": 2, "c": {"x": 1}})
    assert unity.receive(batch) == (2, None)
    assert unity.receive(batch) == (0, None)  # the same batch after a reconnect
    assert unity.receive(entries({"kind": "start", "q": 3}, {"kind": "step", "q": 4})) == (2, None)
    tables = [(t, r.get("episode"), r.get("step"), r.get("status")) for t, r in pod.rows]
    assert tables == [("steps", 1, 1, None), ("episodes", 1, None, "interrupted"), ("steps", 2, 1, None)]


@pytest.mark.parametrize(
    ("batch", "why"),
    [
        ([{"kind": "step", "q": 1}], "a step outside an episode"),
        ([{"kind": "end", "q": 1}], "an episode ends that did not start"),
        ([{"kind": "start", "q": 1}, {"kind": "step", "q": 2, "c": {"participant": "someone else"}}], "gymkube's own"),
        ([{"kind": "start", "q": 1}, {"kind": "step", "q": 2, "c": {"source_x": 1}}], "gymkube's own"),
    ],
)
def test_entries_out_of_place_are_refused_with_the_reason(batch: list[dict[str, Any]], why: str) -> None:
    unity, pod, _ = run()
    taken, reason = unity.receive(entries(*batch))
    assert taken == len(batch) - 1 and reason and why in reason
    assert not [r for t, r in pod.rows if t == "steps"]


def test_column_values_become_cells_and_the_scene_ends_after_its_episodes() -> None:
    unity, pod, finished = run(episodes=1)
    nested = {"deep": [[[[["x"] * 50]]]]}
    columns = {"a": nested, "b": "y" * 5000, "c": 2**60}
    batch = entries({"kind": "start", "q": 1}, {"kind": "step", "q": 2, "c": columns},
                    {"kind": "end", "q": 3, "score": 4.5}, {"kind": "step", "q": 4})  # fmt: skip
    assert unity.receive(batch) == (3, "the scene is over")
    (step,) = [r for t, r in pod.rows if t == "steps"]
    assert len(step["b"]) == 1000 and step["c"] is None and isinstance(step["a"], str) and len(step["a"]) < 4000
    assert finished == ["episodes"] and unity.session.progress.episodes_played == {"play": 1}


def test_steps_of_one_episode_are_bounded() -> None:
    unity, _, _ = run()
    unity.receive(entries({"kind": "start", "q": 1}))
    unity.step = MAX_STEPS
    assert unity.receive(entries({"kind": "step", "q": 2}))[1] == f"more than {MAX_STEPS} steps in one episode"


def test_a_page_that_names_new_columns_in_every_step_cannot_widen_the_table_without_end() -> None:
    pod = FakePod()
    attacker, _, _ = run(pod=pod)
    honest = {"x": 1, "hit": True}
    attacker.receive(entries({"kind": "start", "q": 1}, {"kind": "step", "q": 2, "c": honest}))
    made_up = [{"kind": "step", "q": 3 + i, "c": {f"junk{i}_{j}": 1 for j in range(30)}} for i in range(3)]
    taken, why = attacker.receive(entries(*made_up, {"kind": "step", "q": 9, "c": honest}))
    assert taken == 3 and why == f"more than {MAX_RUN_COLUMNS} different step columns in one scene"
    assert [r["step"] for t, r in pod.rows if t == "steps"] == [1, 2, 3, 4], "the step after the refused one is kept"
    # Other visits fill the scene's names with made-up ones up to its bound ...
    for visitor in range(MAX_SCENE_COLUMNS // MAX_RUN_COLUMNS + 1):
        other, _, _ = run(pod=pod)
        junk = [{"kind": "step", "q": 2 + i, "c": {f"v{visitor}_{i}_{j}": 1 for j in range(32)}} for i in range(2)]
        other.receive(entries({"kind": "start", "q": 1}, *junk))
    assert MAX_SCENE_COLUMNS - 32 < len(pod.unity_columns["play"]) <= MAX_SCENE_COLUMNS
    late, _, _ = run(pod=pod)
    batch = entries(
        {"kind": "start", "q": 1},
        {"kind": "step", "q": 2, "c": honest},
        {"kind": "step", "q": 3, "c": {f"new{j}": 1 for j in range(32)}},
    )
    taken, why = late.receive(batch)
    # ... and a later honest build's columns, seen before, are still taken; a new name is not.
    assert taken == 2 and why and "no new ones" in why
    widths = {len(r) for t, r in pod.rows if t == "steps"}
    assert max(widths) <= len(late.row_ids()) + 4 + 32


@pytest.mark.parametrize(
    "payload",
    [
        {"s": "play", "x": []},
        {"s": "play", "x": [{"kind": "step", "q": -1, "t": 1.0}]},
        {"s": "play", "x": [{"kind": "step", "q": 1, "t": float("nan")}]},
        {"s": "play", "x": [{"kind": "step", "q": 1, "t": 1.0, "c": {"Bad Name": 1}}]},
        {"s": "play", "x": [{"kind": "step", "q": 1, "t": 1.0, "c": {f"c{i}": i for i in range(33)}}]},
        {"s": "play", "x": [{"kind": "step", "q": 1, "t": 1.0}] * 601},
        {"s": "play", "x": [{"kind": "end", "q": 1, "t": 1.0, "status": "won"}]},
        {"s": "play\n", "x": [{"kind": "done", "q": 1, "t": 1.0}]},
        {"s": "play", "x": [{"kind": "launch", "q": 1, "t": 1.0}]},
    ],
)
def test_a_unity_batch_that_does_not_fit_is_refused_whole(payload: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        UnityPayload.model_validate(payload)
