"""Bots play both examples through the game pod; the exported data matches what they did."""

from __future__ import annotations

import asyncio
import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pyarrow.parquet as pq
import yaml
from conftest import EXAMPLES, quick_manifest
from datacheck import assert_draw_times, assert_one_row_per_tick, expected_human_actions, steps_by_episode

from gymkube.bot import ParticipantBot


def play(platform, name: str, count: int, **params: str) -> list[ParticipantBot]:
    async def main() -> list[ParticipantBot]:
        bots = [ParticipantBot(platform.entry(name, PROLIFIC_PID=f"bot{i}", **params), seed=i) for i in range(count)]
        return await asyncio.gather(*(bot.run(90) for bot in bots))

    return asyncio.run(main())


def test_bots_play_cartpole_and_every_tick_is_one_row_with_their_actions(platform_factory, tmp_path: Path):
    platform = platform_factory(quick_manifest(tmp_path, "cartpole.yaml", episodes=2, maxSteps=60))
    bots = play(platform, "cartpole", 3, STUDY_ID="s1")
    platform.stop()
    data = platform.tables("cartpole")

    platform.assert_data_sound("cartpole")
    assert all(bot.completion_code for bot in bots)
    sessions = {row["participant"]: row for row in data["sessions"]}
    for i, bot in enumerate(bots):
        row = sessions[f"bot{i}"]
        assert row["status"] == "completed"
        assert row["completion_code"] == bot.completion_code
        assert json.loads(row["answers"]) == bot.answers
        assert json.loads(row["url_params"])["PROLIFIC_PID"] == f"bot{i}"
        assert json.loads(row["assignment"]) == [
            "consent",
            "instructions",
            "cartpole",
            "questionnaire",
            "end",
        ]

    episodes = data["episodes"]
    assert len(episodes) == 6 and {e["status"] for e in episodes} <= {"terminated", "truncated"}
    assert all(e["seed"] == 42 + e["episode"] - 1 for e in episodes)
    assert_one_row_per_tick(data["steps"], episodes, fps=30)
    assert assert_draw_times(data["steps"], data["frames"], data["sessions"]) >= 5, (
        "inputs name the frame on screen and its draw time"
    )

    by_participant = {bot.entry_url.split("PROLIFIC_PID=")[1].split("&")[0]: bot for bot in bots}
    checked = 0
    for rows in steps_by_episode(data["steps"]).values():
        bot = by_participant[rows[0]["participant"]]
        expected = expected_human_actions(rows, "agent", bot.inputs, {"ArrowLeft": 0, "ArrowRight": 1}, 0)
        assert [(r["action_agent"], r["source_agent"]) for r in rows] == expected
        checked += len(rows)
    assert checked == len(data["steps"]) > 0
    assert any(r["source_agent"] == "human" for r in data["steps"])
    assert any(r["source_agent"] == "default" for r in data["steps"])


def test_bots_play_beside_the_onnx_policy_in_forage(platform_factory, tmp_path: Path):
    platform = platform_factory(quick_manifest(tmp_path, "forage_ai.yaml", episodes=1, maxSteps=40, fps=20))
    bots = play(platform, "forage-ai", 2)
    data = platform.finish("forage-ai")

    assert all(bot.completion_code for bot in bots)
    episodes = data["episodes"]
    assert len(episodes) == 2 and all(e["steps"] == 40 and e["status"] == "truncated" for e in episodes)
    assert all(e["bundle_hash"] and len(e["bundle_hash"]) == 64 for e in episodes)
    assert_one_row_per_tick(data["steps"], episodes, fps=20)
    keys = {"ArrowUp": 1, "ArrowDown": 2, "ArrowLeft": 3, "ArrowRight": 4}
    for rows in steps_by_episode(data["steps"]).values():
        assert {r["source_red"] for r in rows} == {"policy"}
        assert all(0 <= r["action_red"] <= 4 for r in rows)
    # Greedy red walks to apples: over two 40-step episodes it collects at least one.
    assert sum(r["info_red_apples"] for r in data["steps"] if r["step"] == 40) >= 1
    by_participant = {}
    for bot in bots:
        sessions = [s for s in data["sessions"] if s["completion_code"] == bot.completion_code]
        by_participant[sessions[0]["participant"]] = bot
    for rows in steps_by_episode(data["steps"]).values():
        bot = by_participant[rows[0]["participant"]]
        expected = expected_human_actions(rows, "blue", bot.inputs, keys, 0)
        assert [(r["action_blue"], r["source_blue"]) for r in rows] == expected


def test_a_static_page_from_the_experiments_files_and_recorded_observations(platform_factory, tmp_path: Path):
    bundle = tmp_path / "bundle"
    shutil.copytree(EXAMPLES / "forage", bundle, ignore=shutil.ignore_patterns("__pycache__"))
    (bundle / "welcome.html").write_text("<p>Welcome from a file.</p>")
    manifest = quick_manifest(tmp_path, "forage_ai.yaml", episodes=1, maxSteps=10, fps=20)
    document = yaml.safe_load(manifest.read_text())
    document["spec"]["bundle"] = str(bundle)
    document["spec"]["data"] = {"recordObservations": True}
    document["spec"]["scenes"][0] = {"type": "static", "id": "welcome", "file": "welcome.html"}
    manifest.write_text(yaml.safe_dump(document, sort_keys=False))
    platform = platform_factory(manifest)
    (bot,) = play(platform, "forage-ai", 1)
    page = httpx.get(urljoin(bot.pod_url, bot.scenes[0]["page"]))  # what the scene's sandboxed frame loads
    assert "<p>Welcome from a file.</p>" in page.text and "sandbox" in page.headers["content-security-policy"]
    platform.stop()
    steps = platform.tables("forage-ai")["steps"]
    assert len(steps) == 10
    observation = json.loads(steps[0]["obs"])
    assert set(observation) == {"blue", "red"} and len(observation["blue"]) == 6


def test_gymkube_export_writes_one_merged_table_per_kind(platform_factory, tmp_path: Path):
    platform = platform_factory(quick_manifest(tmp_path, "cartpole.yaml", episodes=1, maxSteps=20))
    play(platform, "cartpole", 2)
    platform.stop()
    out = tmp_path / "export"
    for fmt in ("csv", "parquet"):
        result = subprocess.run(
            [sys.executable, "-m", "gymkube", "export", "cartpole", "--data",
             str(platform.data_dir / "storage"), "--format", fmt, "--out", str(out)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        written = {Path(line).name for line in result.stdout.split()}
        assert written == {
            f"cartpole-{t}.{fmt}" for t in ("steps", "episodes", "scenes", "sessions", "events", "frames")
        }
    with open(out / "cartpole-sessions.csv") as handle:
        assert len(list(csv.DictReader(handle))) == 2
    assert pq.read_table(out / "cartpole-steps.parquet").num_rows == len(platform.tables("cartpole")["steps"])
    storage = str(platform.data_dir / "storage")
    missing = subprocess.run(
        [sys.executable, "-m", "gymkube", "export", "nothing-here", "--data", storage],
        capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode != 0 and "no data for experiment 'nothing-here'" in missing.stderr
