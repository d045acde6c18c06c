"""The admin view: behind the admin secret, it shows live counts and per-pod load."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from conftest import quick_manifest

from gymkube.bot import ParticipantBot

SECRET = "a-long-admin-secret-for-tests"


def test_the_admin_view_needs_the_secret_and_shows_who_is_connected(platform_factory, tmp_path: Path):
    platform = platform_factory(quick_manifest(tmp_path, "cartpole.yaml"), env={"GYMKUBE_ADMIN_SECRET": SECRET})
    admin = httpx.Client(base_url=platform.base)
    assert admin.get("/admin/overview.json").status_code == 401
    assert "Admin secret" in admin.get("/admin").text
    assert admin.post("/admin/login", data={"secret": "guess"}).status_code == 401
    assert admin.post("/admin/login", data={"secret": SECRET}).status_code == 303
    dashboard = admin.get("/admin").text
    assert "Admin secret" not in dashboard and "overview.json" in dashboard

    async def connected_overview() -> dict:
        # Still reading the consent page: here now (a participant who already finished would not count).
        bot = ParticipantBot(platform.entry("cartpole", PROLIFIC_PID="watched"), stop_at="consent")
        await bot.enter()
        await bot.connect()
        await asyncio.sleep(2.5)
        overview = (await asyncio.to_thread(admin.get, "/admin/overview.json")).json()
        await bot.sio.disconnect()
        return overview

    (experiment,) = asyncio.run(connected_overview())["experiments"]
    assert experiment["experiment"] == "cartpole" and experiment["participants"] == 1
    (pod,) = experiment["pods"]
    assert pod["alive"] and pod["participants"] == 1 and pod["storage_error"] is None
