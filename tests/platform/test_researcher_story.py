"""A researcher's whole story through the REST API only: upload, create, play, download, delete."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import yaml
from conftest import EXAMPLES, quick_manifest, zip_folder

from gymkube.bot import ParticipantBot


def wait_for_phase(api: httpx.Client, name: str, phase: str, timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        view = api.get(f"/api/v1/experiments/{name}").json()
        if view["phase"] == phase:
            return view
        time.sleep(0.2)
    raise AssertionError(f"{name} never reached {phase}: {view}")


def test_upload_create_play_download_pause_and_delete_through_the_api(platform_factory, tmp_path: Path):
    platform = platform_factory()
    token = platform.token("alice")
    api = httpx.Client(base_url=platform.base, headers={"Authorization": f"Bearer {token}"}, timeout=30)

    reply = api.post("/api/v1/bundles", content=zip_folder(EXAMPLES / "forage"),
                     headers={"Content-Type": "application/zip"})  # fmt: skip
    assert reply.status_code == 201, reply.text
    bundle = reply.json()
    assert bundle["digest"].startswith("sha256:") and "forage_env.py" in bundle["files"]

    document = yaml.safe_load(quick_manifest(tmp_path, "forage_ai.yaml", episodes=1, maxSteps=30).read_text())
    document["spec"]["bundle"] = bundle["digest"]
    bad = yaml.safe_dump({**document, "spec": {**document["spec"], "replicas": 0}})
    refused = api.post("/api/v1/experiments", content=bad, headers={"Content-Type": "application/yaml"})
    assert refused.status_code == 422
    assert any(p.startswith("spec.replicas:") for p in refused.json()["detail"]["problems"])

    created = api.post("/api/v1/experiments", content=yaml.safe_dump(document),
                       headers={"Content-Type": "application/yaml"})  # fmt: skip
    assert created.status_code == 201, created.text
    assert api.post("/api/v1/experiments", content=yaml.safe_dump(document)).status_code == 409
    view = wait_for_phase(api, "forage-ai", "Running")
    assert view["url"].endswith("/x/forage-ai") and view["readyReplicas"] == 1

    async def play() -> list[ParticipantBot]:
        bots = [ParticipantBot(platform.entry("forage-ai", PROLIFIC_PID=f"r{i}"), seed=i) for i in range(2)]
        return await asyncio.gather(*(bot.run(60) for bot in bots))

    bots = asyncio.run(play())
    assert all(bot.completion_code for bot in bots)

    sessions = api.get("/api/v1/experiments/forage-ai/sessions").json()
    assert len(sessions["sessions"]) == 2 and sessions["next"] is None
    assert {s["completionCode"] for s in sessions["sessions"]} == {b.completion_code for b in bots}
    assert all(s["status"] == "completed" for s in sessions["sessions"])
    time.sleep(1.5)  # the last episode's rows reach storage within about a second

    reply = api.get("/api/v1/experiments/forage-ai/data/steps", params={"format": "csv"})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(reply.text)))
    assert len(rows) == 60 and {r["participant"] for r in rows} == {"r0", "r1"}
    assert {r["source_red"] for r in rows} == {"policy"}
    parquet = pq.read_table(io.BytesIO(api.get("/api/v1/experiments/forage-ai/data/steps",
                                               params={"format": "parquet"}).content))  # fmt: skip
    assert parquet.num_rows == 60
    assert sorted(parquet.column("step").to_pylist()) == sorted(int(r["step"]) for r in rows)
    inputs = {r["participant"]: sum(1 for x in rows if x["participant"] == r["participant"]
                                    and x["source_blue"] == "human") for r in rows}  # fmt: skip
    assert any(inputs.values()), "the bots' key presses are in the data"
    answers = api.get("/api/v1/experiments/forage-ai/data/sessions", params={"format": "csv"}).text
    assert all(bot.completion_code in answers for bot in bots)

    assert api.post("/api/v1/experiments/forage-ai/pause").json()["phase"] == "Paused"
    paused = httpx.get(platform.entry("forage-ai", PROLIFIC_PID="newcomer"))
    assert paused.status_code == 503 and "paused" in paused.text
    returning = httpx.get(platform.entry("forage-ai", PROLIFIC_PID="r0"), cookies=bots[0].cookies)
    assert returning.status_code == 303, "a participant already in the study (their browser) is not turned away"
    assert api.post("/api/v1/experiments/forage-ai/resume").json()["phase"] == "Running"
    assert httpx.get(platform.entry("forage-ai", PROLIFIC_PID="newcomer")).status_code == 303

    stats = api.get("/api/v1/experiments/forage-ai/stats").json()
    assert stats["completed"] == 2 and stats["pods"][0]["alive"]
    listed = api.get("/api/v1/experiments").json()
    assert [e["name"] for e in listed] == ["forage-ai"]

    assert api.delete("/api/v1/experiments/forage-ai").status_code == 204
    assert api.get("/api/v1/experiments/forage-ai").status_code == 404
    assert httpx.get(platform.entry("forage-ai")).status_code == 404
    assert not platform.pod_pids(), "the experiment's pods are gone"
