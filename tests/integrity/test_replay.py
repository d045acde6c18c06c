"""`gymkube replay`: recorded episodes re-run identically; hidden nondeterminism is caught where it shows."""

from __future__ import annotations

import asyncio
import shutil
import zipfile
from pathlib import Path

import yaml
from conftest import ROOT

from gymkube.bot import ParticipantBot
from gymkube.storage import LocalStorage
from gymkube.storage.bundles import bundle_hash, store_bundle, zip_folder
from gymkube.storage.chunks import encode_chunk

FLAKY_ENV = '''
"""TinyEnv, except that from step 7 on its observation includes an unseeded `random` draw."""
import random

import numpy as np
from tiny_env import TinyEnv


class FlakyEnv(TinyEnv):
    def step(self, action):
        observation, reward, terminated, truncated, info = super().step(action)
        if self.steps >= 7:
            observation = np.array([observation[0], random.random()], dtype=np.float32)
        return observation, reward, terminated, truncated, info


def make(**kwargs):
    return FlakyEnv(**kwargs)
'''


def experiment(tmp_path: Path, entry_point: str, episodes: int = 2) -> Path:
    bundle = tmp_path / "bundle"
    shutil.copytree(ROOT / "tests" / "fixtures" / "bundle", bundle)
    (bundle / "flaky_env.py").write_text(FLAKY_ENV)
    document = {
        "apiVersion": "gymkube.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": "replays"},
        "spec": {
            "bundle": str(bundle),
            "recruitment": {"participantParam": "PROLIFIC_PID"},
            "scenes": [
                {"type": "gym", "id": "play", "environment": {"entryPoint": entry_point, "kwargs": {"length": 12}},
                 "players": {"agent": {"type": "human"}}, "controls": {"keys": {"ArrowLeft": 0, "ArrowRight": 2}},
                 "episodes": episodes, "fps": 30, "countdownS": 0, "seed": 3},
                {"type": "end"},
            ],
        },
    }  # fmt: skip
    path = tmp_path / "replays.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def play(platform, count: int = 2) -> None:
    async def main() -> None:
        bots = [ParticipantBot(platform.entry("replays", PROLIFIC_PID=f"b{i}"), seed=i) for i in range(count)]
        await asyncio.gather(*(b.run(60) for b in bots))

    asyncio.run(main())


def test_a_deterministic_environment_replays_identically_from_the_bundle_the_spec_named(platform_factory, tmp_path):
    manifest = experiment(tmp_path, "tiny_env:make")
    platform = platform_factory(manifest)
    play(platform)
    platform.stop()
    shutil.rmtree(tmp_path / "bundle")  # the copy the control plane stored (bundles/, beyond any pod's reach) is enough
    result = platform.replay("replays")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "4 of 4 episodes replay identically (100.0%)"
    game = platform.tables("replays")["episodes"][0]["game"]
    only = platform.replay("replays", "--episode", f"{game}:1")
    assert only.stdout.strip() == "1 of 1 episodes replay identically (100.0%)"


def test_hidden_nondeterminism_is_caught_at_the_step_where_it_shows(platform_factory, tmp_path):
    platform = platform_factory(experiment(tmp_path, "flaky_env:make", episodes=1))
    play(platform, count=1)
    platform.stop()
    result = platform.replay("replays")
    assert result.returncode == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2 and lines[-1] == "0 of 1 episodes replay identically (0.0%)"
    assert "(b0): DIVERGES at step 7: obs_hash recorded '" in lines[0], lines[0]


def test_without_the_bundle_the_replay_says_what_is_missing(platform_factory, tmp_path):
    platform = platform_factory(experiment(tmp_path, "tiny_env:make", episodes=1))
    play(platform, count=1)
    platform.stop()
    storage = platform.data_dir / "storage"
    for record in storage.glob("platform/experiments/replays/bundles/*.json"):
        record.unlink()  # as for data copied without the control plane's record of the spec's bundles
    result = platform.replay("replays")
    assert result.returncode == 1
    assert "NOT REPLAYED: cannot build 'tiny_env:make': the episode ran bundle" in result.stdout, result.stdout
    assert "not a bundle the experiment's spec named" in result.stdout and "--bundle" in result.stdout
    again = platform.replay("replays", "--bundle", str(tmp_path / "bundle"))
    assert again.returncode == 0, again.stdout
    missing = platform.replay("no-such-experiment")
    assert missing.returncode == 2 and "no episodes of 'no-such-experiment'" in missing.stderr


HOSTILE_ENV = """
import pathlib
pathlib.Path({marker!r}).write_text("the replay ran code a game pod planted")
from tiny_env import make
"""


def test_replay_refuses_code_a_game_pod_planted_beside_the_data(platform_factory, tmp_path):
    """A pod can write under experiments/NAME/: a bundle and episode rows naming it must not run at replay."""
    platform = platform_factory(experiment(tmp_path, "tiny_env:make", episodes=1))
    play(platform, count=1)
    platform.stop()
    storage = LocalStorage(platform.data_dir / "storage")
    planted = tmp_path / "planted"
    shutil.copytree(tmp_path / "bundle", planted)
    marker = tmp_path / "ran.txt"
    (planted / "tiny_env_wrapper.py").write_text(HOSTILE_ENV.format(marker=str(marker)))
    planted_hash = bundle_hash(planted)
    assert planted_hash is not None
    # Where pods used to archive their bundle, and in the content-addressed store under its own digest.
    storage.put(f"experiments/replays/bundles/{planted_hash}.zip", zip_folder(planted))
    store_bundle(storage, zip_folder(planted))
    tables = platform.tables("replays")
    episode = tables["episodes"][0] | {"game": "planted", "bundle_hash": planted_hash, "env": "tiny_env_wrapper:make"}
    steps = [row | {"game": "planted"} for row in tables["steps"] if row["game"] == tables["episodes"][0]["game"]]
    storage.put("experiments/replays/chunks/9999999999999-evil-000000-000001.zip",
                encode_chunk({"episodes": [episode], "steps": steps})[0])  # fmt: skip
    result = platform.replay("replays")
    assert result.returncode == 1
    assert "game planted episode 1" in result.stdout and "not a bundle the experiment's spec named" in result.stdout
    assert not marker.exists(), "replay imported a bundle that the spec does not name"
    assert "1 of 2 episodes replay identically" in result.stdout


def test_check_passes_on_played_data_and_names_the_steps_a_lost_chunk_took(platform_factory, tmp_path):
    platform = platform_factory(experiment(tmp_path, "tiny_env:make", episodes=3))
    play(platform, count=1)
    platform.stop()
    clean = platform.gymkube("check", "replays")
    assert clean.returncode == 0, clean.stdout
    assert clean.stdout.strip().endswith("1 sessions, 3 episodes, 36 steps: ok")
    storage = platform.data_dir / "storage"
    chunks = sorted(storage.glob("experiments/replays/chunks/**/*.zip"))
    with_steps = [c for c in chunks if "steps.parquet" in zipfile.ZipFile(c).namelist()]
    assert len(with_steps) >= 2, "steps were flushed in several chunks"
    with_steps[len(with_steps) // 2].unlink()  # a chunk lost on its way to storage
    damaged = platform.gymkube("check", "replays")
    assert damaged.returncode == 1 and "NOT OK" in damaged.stdout
    assert " missing" in damaged.stdout or "but no episode row" in damaged.stdout or "no scene row" in damaged.stdout
