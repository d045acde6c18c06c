"""Every researcher route needs a token, and a token scoped elsewhere reaches nothing."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from gymkube.platform.main import build_app
from gymkube.platform.settings import PlatformSettings, SettingsError

MANIFEST = """apiVersion: gymkube.io/v1alpha1
kind: Experiment
metadata: {name: theirs}
spec:
  scenes: [{type: end}]
"""


@pytest.fixture
def app(tmp_path: Path):
    return build_app(PlatformSettings(dev=True, state_dir=tmp_path))


def api_routes(app) -> list[tuple[str, str]]:
    schema = app.openapi()
    routes = [
        (method.upper(), path)
        for path, methods in schema["paths"].items()
        if path.startswith("/api/v1")
        for method in methods
    ]
    assert len(routes) >= 12, "the OpenAPI schema lists the researcher routes"
    return routes


def concrete(path: str) -> str:
    return path.replace("{name}", "theirs").replace("{table}", "steps")


async def test_every_api_route_answers_401_without_a_valid_token(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        for method, path in api_routes(app):
            for headers in ({}, {"Authorization": "Bearer gk_not-a-real-token"}):
                reply = await client.request(method, concrete(path), headers=headers, content=MANIFEST)
                assert reply.status_code == 401, f"{method} {path} answered {reply.status_code} with {headers}"
                assert "gymkube token create" in reply.json()["detail"]


async def test_a_token_scoped_to_other_experiments_gets_403_everywhere_it_could_reach_them(app):
    token = await app.state.plane.state.create_token("alice", ["mine"])
    headers = {"Authorization": f"Bearer {token}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers) as client:
        for method, path in api_routes(app):
            reply = await client.request(method, concrete(path), content=MANIFEST)
            if "{name}" in path or (method, path) == ("POST", "/api/v1/experiments"):
                assert reply.status_code == 403, f"{method} {path} answered {reply.status_code}"
                assert "theirs" in reply.json()["detail"]
            elif (method, path) == ("GET", "/api/v1/experiments"):
                assert reply.status_code == 200 and reply.json() == []
            else:  # uploading a bundle is not about any one experiment's data
                assert (method, path) == ("POST", "/api/v1/bundles"), f"unexpected route {method} {path}"
                assert reply.status_code == 400 and "zip" in reply.json()["detail"]


def test_the_control_plane_refuses_to_start_with_the_default_admin_secret(tmp_path: Path):
    with pytest.raises(SettingsError, match="GYMKUBE_ADMIN_SECRET"):
        build_app(PlatformSettings(dev=False, state_dir=tmp_path))
    with pytest.raises(SettingsError):
        build_app(PlatformSettings(dev=False, state_dir=tmp_path, admin_secret="short"))
    build_app(PlatformSettings(dev=False, state_dir=tmp_path, admin_secret="a-long-random-admin-secret"))


async def test_tokens_are_stored_hashed(tmp_path: Path):
    app = build_app(PlatformSettings(dev=True, state_dir=tmp_path))
    token = await app.state.plane.state.create_token("bob")
    stored = (tmp_path / "state.db").read_bytes()
    assert token.encode() not in stored and b"bob" in stored
    assert (tmp_path / "state.db").stat().st_mode & 0o077 == 0
