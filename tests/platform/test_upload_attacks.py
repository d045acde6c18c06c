"""Hostile uploads to /api/v1/bundles are refused with a 4xx and a reason; nothing is stored."""

from __future__ import annotations

import io
import stat
import zipfile
from pathlib import Path

import httpx
import pytest

from gymkube.platform.main import build_app
from gymkube.platform.settings import PlatformSettings


def zipped(entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in entries:
            archive.writestr(info, data)
    return buffer.getvalue()


def symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


ATTACKS = {
    "zip-slip": (zipped([("../../evil.py", b"import os")]), "..", 422),
    "absolute path": (zipped([("/etc/cron.d/evil", b"x")]), "absolute", 422),
    "symlink": (zipped([(symlink("link"), b"/etc/passwd")]), "link", 422),
    "zip bomb": (zipped([("zeros.bin", b"\0" * (40 * 1024 * 1024))]), "compression ratio", 422),
    "not a zip": (b"<html>definitely not a zip</html>", "zip", 400),
    "empty body": (b"", "", 400),
}


@pytest.fixture
async def client(tmp_path: Path):
    settings = PlatformSettings(dev=True, state_dir=tmp_path, max_upload_bytes=10 * 1024 * 1024)
    app = build_app(settings)
    token = await app.state.plane.state.create_token("mallory")
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/zip"}
    return app, httpx.AsyncClient(transport=transport, base_url="http://test", headers=headers)


@pytest.mark.parametrize("attack", list(ATTACKS))
async def test_an_attack_is_refused_with_a_reason_and_leaves_nothing_in_storage(client, attack: str):
    app, http = client
    body, words, status = ATTACKS[attack]
    if attack == "zip bomb":  # 40 MiB of zeros in a few KiB: past the ratio and size limits
        from gymkube.storage.bundles import BundleLimits

        assert len(body) < BundleLimits().max_compressed_bytes
    async with http:
        reply = await http.post("/api/v1/bundles", content=body)
    assert 400 <= reply.status_code < 500 and reply.status_code == status, reply.text
    assert words.lower() in reply.json()["detail"].lower()
    assert app.state.plane.storage.list("") == []


async def test_an_oversize_upload_is_refused_before_it_is_read(client):
    app, http = client
    async with http:
        reply = await http.post("/api/v1/bundles", content=b"PK" + b"\0" * (11 * 1024 * 1024))
    assert reply.status_code == 413 and "larger than allowed" in reply.json()["detail"]
    assert app.state.plane.storage.list("") == []


async def test_a_good_bundle_is_stored_by_its_content_hash(client):
    app, http = client
    async with http:
        reply = await http.post("/api/v1/bundles", content=zipped([("env.py", b"X = 1\n")]))
    assert reply.status_code == 201
    digest = reply.json()["digest"]
    assert app.state.plane.storage.list("") == [f"bundles/{digest.removeprefix('sha256:')}.zip"]
