"""With S3 storage (a real SeaweedFS), the data a researcher downloads is exactly what was played."""

from __future__ import annotations

import asyncio
import csv
import io
import sys
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest
from conftest import quick_manifest

from gymkube.bot import ParticipantBot

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from s3server import find_weed, seaweed_s3  # noqa: E402

pytestmark = pytest.mark.skipif(find_weed() is None, reason="weed is installed with the dev extras")


def test_played_data_goes_to_s3_and_downloads_as_csv_parquet_and_a_presigned_url(platform_factory, tmp_path: Path):
    with seaweed_s3(tmp_path / "s3") as server:
        env = server.platform_env("study", "gymkube")
        platform = platform_factory(quick_manifest(tmp_path, "cartpole.yaml", maxSteps=25), env=env)

        async def play() -> list[ParticipantBot]:
            bots = [ParticipantBot(platform.entry("cartpole", PROLIFIC_PID=f"s{i}"), seed=i) for i in range(3)]
            return await asyncio.gather(*(bot.run(60) for bot in bots))

        bots = asyncio.run(play())
        assert all(bot.completion_code for bot in bots)
        time.sleep(1.5)
        api = httpx.Client(base_url=platform.base, headers={"Authorization": f"Bearer {platform.token('r')}"})

        direct = server.storage("study", "gymkube")
        assert direct.list("experiments/cartpole/chunks/"), "chunks are in the bucket"
        from gymkube.storage.export import read_tables

        expected = read_tables(direct, "cartpole")["steps"]
        rows = list(csv.DictReader(io.StringIO(api.get("/api/v1/experiments/cartpole/data/steps").text)))
        assert len(rows) == expected.num_rows > 0
        assert sorted(
            (r["participant"], int(r["episode"]), int(r["step"]), int(r["action_agent"])) for r in rows
        ) == sorted(  # noqa: E501
            zip(
                *(expected.column(c).to_pylist() for c in ("participant", "episode", "step", "action_agent")),
                strict=True,
            )  # fmt: skip
        )
        parquet = api.get("/api/v1/experiments/cartpole/data/steps", params={"format": "parquet"})
        assert pq.read_table(io.BytesIO(parquet.content)).num_rows == expected.num_rows

        link = api.get("/api/v1/experiments/cartpole/data/sessions/url", params={"format": "csv"})
        assert link.status_code == 200, link.text
        sessions = httpx.get(link.json()["url"])
        assert sessions.status_code == 200
        assert {r["completion_code"] for r in csv.DictReader(io.StringIO(sessions.text))} == {
            b.completion_code for b in bots
        }
        platform.stop()
