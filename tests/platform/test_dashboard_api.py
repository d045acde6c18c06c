"""The dashboard's JSON and actions over HTTP: who may sign in and see what, bounded parameters, ending a session."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from conftest import quick_manifest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gymkube.bot import ParticipantBot

SECRET = "a-long-admin-secret-for-tests"
ACTION = {"X-Gymkube-Dashboard": "1"}


def signed_in(base: str, secret: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=15)
    assert client.post("/admin/login", data={"secret": secret}).status_code == 303
    return client


def test_sign_in_scope_and_the_page_policy(platform_factory, tmp_path: Path):
    platform = platform_factory(quick_manifest(tmp_path, "cartpole.yaml"), quick_manifest(tmp_path, "forage_ai.yaml"),
                                env={"GYMKUBE_ADMIN_SECRET": SECRET})  # fmt: skip
    stranger = httpx.Client(base_url=platform.base, timeout=15)
    assert stranger.get("/admin/api/experiments").status_code == 401
    login = stranger.get("/admin")
    assert "Admin secret or researcher token" in login.text
    policy = login.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy and "unsafe-inline" not in policy
    assert stranger.post("/admin/login", data={"secret": "guess"}).status_code == 401

    admin = signed_in(platform.base, SECRET)
    assert {e["name"] for e in admin.get("/admin/api/experiments").json()["experiments"]} == {"cartpole", "forage-ai"}
    page = admin.get("/admin")
    assert '<script type="module" src="/admin/static/js/main.js">' in page.text
    assert admin.get("/admin/static/js/main.js").headers["content-security-policy"] == policy

    researcher = signed_in(platform.base, platform.token("alice", "cartpole"))
    listed = researcher.get("/admin/api/experiments").json()
    assert listed["viewer"] == {"name": "alice", "admin": False}
    assert [e["name"] for e in listed["experiments"]] == ["cartpole"]
    assert researcher.get("/admin/api/experiments/cartpole/live").status_code == 200
    for path in ("live", "participants", "plots", "data/steps"):
        assert researcher.get(f"/admin/api/experiments/forage-ai/{path}").status_code == 404, path
    assert researcher.post("/admin/api/experiments/forage-ai/pause", headers=ACTION).status_code == 404
    # The token works as a bearer credential too, scoped the same way.
    token = platform.token("bob", "forage-ai")
    bearer = httpx.Client(base_url=platform.base, headers={"Authorization": f"Bearer {token}"}, timeout=15)
    assert [e["name"] for e in bearer.get("/admin/api/experiments").json()["experiments"]] == ["forage-ai"]
    assert bearer.get("/admin/api/experiments/cartpole/live").status_code == 404

    # An action carried by the cookie alone (another site's form could send that) is refused.
    assert researcher.post("/admin/api/experiments/cartpole/pause").status_code == 403
    assert researcher.post("/admin/api/experiments/cartpole/pause", headers=ACTION).json()["paused"] is True
    assert httpx.get(platform.entry("cartpole", PROLIFIC_PID="late")).status_code == 503
    assert researcher.post("/admin/api/experiments/cartpole/resume", headers=ACTION).json()["paused"] is False

    # A revoked token ends the session within seconds.
    import subprocess
    import sys

    subprocess.run([sys.executable, "-m", "gymkube", "token", "revoke", "alice", "--state", str(platform.data_dir)],
                   check=True, capture_output=True)  # fmt: skip
    deadline = time.monotonic() + 15
    while researcher.get("/admin/api/experiments").status_code != 401:
        assert time.monotonic() < deadline, "a revoked token keeps its dashboard session"
        time.sleep(0.5)


def test_failed_sign_ins_are_slowed_down(platform_factory, tmp_path: Path):
    platform = platform_factory(quick_manifest(tmp_path, "cartpole.yaml"), env={"GYMKUBE_ADMIN_SECRET": SECRET})
    guesser = httpx.Client(base_url=platform.base, timeout=15)
    answers = [guesser.post("/admin/login", data={"secret": f"guess-{i}"}) for i in range(8)]
    assert [a.status_code for a in answers[:5]] == [401] * 5
    assert {a.status_code for a in answers[5:]} == {429}
    assert 1 <= int(answers[-1].headers["retry-after"]) <= 13
    # While limited, even the right secret waits: a guesser learns nothing from the answers.
    assert guesser.post("/admin/login", data={"secret": SECRET}).status_code == 429
    assert guesser.post("/admin/login", data={"secret": "x" * 5000}).status_code == 422


def test_query_parameters_are_bounded_and_never_break_the_server(platform_factory, tmp_path: Path):
    platform = platform_factory(quick_manifest(tmp_path, "cartpole.yaml"), env={"GYMKUBE_ADMIN_SECRET": SECRET})
    admin = signed_in(platform.base, SECRET)
    url = "/admin/api/experiments/cartpole/participants"
    assert admin.get(url, params={"cursor": "bm90IG1pbmU"}).status_code == 422
    assert admin.get(url, params={"limit": 0}).status_code == 422
    assert admin.get(url, params={"search": "x" * 101}).status_code == 422
    assert admin.get(url, params={"state": "everyone"}).status_code == 422
    assert admin.get("/admin/api/experiments/cartpole/participants/a%0Ab").status_code == 422
    assert admin.get("/admin/api/experiments/Not_A_Name/live").status_code == 422

    text = st.text(max_size=120) | st.sampled_from(["%", "_", "\\", "'", '"', "\x00", "' OR 1=1 --", "%%%", "ü" * 90])

    @settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(search=text, state=st.none() | st.sampled_from(["here", "away", "x"]), scene=st.none() | text,
           limit=st.integers(-5, 300), cursor=st.none() | text)  # fmt: skip
    def probe(search: str, state: str | None, scene: str | None, limit: int, cursor: str | None) -> None:
        params = {k: v for k, v in {"search": search, "state": state, "scene": scene, "limit": limit,
                                    "cursor": cursor}.items() if v is not None}  # fmt: skip
        reply = admin.get(url, params=params)
        assert reply.status_code in (200, 422), (params, reply.status_code, reply.text[:300])
        if reply.status_code == 200:
            assert reply.json()["total"] == 0  # nobody took part yet: nothing may match

    probe()
    assert "Traceback" not in platform.log_path.read_text()


def test_ending_a_session_sends_the_participant_to_the_ending(platform_factory, tmp_path: Path):
    platform = platform_factory(quick_manifest(tmp_path, "forage_ai.yaml"), env={"GYMKUBE_ADMIN_SECRET": SECRET})
    admin = signed_in(platform.base, SECRET)

    async def stuck_participant() -> tuple[ParticipantBot, int, dict]:  # in the game, not pressing a key
        bot = ParticipantBot(platform.entry("forage-ai", PROLIFIC_PID="stuck"), stop_at="forage")
        await bot.enter()
        await bot.connect()
        await asyncio.wait_for(bot.done.wait(), 30)
        await asyncio.sleep(1.5)  # its game plays on (default actions)
        # Another experiment's credential, or none, cannot reach the pod's control route.
        root = "{0.scheme}://{0.netloc}".format(urlsplit(bot.pod_url))
        async with httpx.AsyncClient() as client:
            forged = await client.post(f"{root}/control/participants/stuck/end", headers={"Authorization": "Bearer x"},
                                       json={"ending": "technical", "by": "x"})  # fmt: skip
        ended = await asyncio.to_thread(admin.post, "/admin/api/experiments/forage-ai/participants/stuck/end",
                                        json={"ending": "technical"}, headers=ACTION)  # fmt: skip
        await asyncio.sleep(1.0)
        await bot.disconnect()
        return bot, forged.status_code, ended.json()

    bot, forged, ended = asyncio.run(stuck_participant())
    assert forged == 401
    assert ended["ending"] == "technical" and ended["status"] == "ended" and ended["code"].startswith("TECH")
    assert bot.end_reason == "technical" and bot.completion_code == ended["code"]
    missing = admin.post("/admin/api/experiments/forage-ai/participants/nobody/end", json={"ending": "technical"},
                         headers=ACTION)  # fmt: skip
    assert missing.status_code == 409 and "not on a game pod" in missing.json()["detail"]
    deadline = time.monotonic() + 15  # the download streams what storage holds: the ending arrives within a flush
    while "ended_by_researcher" not in (csv := admin.get("/admin/api/experiments/forage-ai/data/events")).text:
        assert time.monotonic() < deadline, csv.text[:500]
        time.sleep(0.5)
    assert csv.headers["content-disposition"] == 'attachment; filename="forage-ai-events.csv"'
    tables = platform.finish("forage-ai")
    by_researcher = [e for e in tables["events"] if e["kind"] == "ended_by_researcher"]
    assert len(by_researcher) == 1 and '"by": "admin"' in by_researcher[0]["detail"]
    (episode,) = tables["episodes"]
    assert episode["status"] == "error" and episode["participant"] == "stuck"
