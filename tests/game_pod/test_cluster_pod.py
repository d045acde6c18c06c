"""A game pod configured as the operator configures it: its own path, its bundle from storage, TURN."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import httpx
import yaml
from conftest import EXAMPLES, game_pod_process, quick_manifest, zip_folder

from gymkube.bot import ParticipantBot
from gymkube.keys import token_key
from gymkube.storage import LocalStorage
from gymkube.storage.bundles import store_bundle
from gymkube.tokens import sign_token

SECRET = "participant-token-secret"
TURN_SECRET = "the-coturn-static-auth-secret"


def test_a_pod_serves_its_ordinal_path_fetches_its_bundle_and_hands_out_turn_credentials(tmp_path: Path):
    storage = LocalStorage(tmp_path / "storage")
    digest = store_bundle(storage, zip_folder(EXAMPLES / "forage")).digest
    document = yaml.safe_load(quick_manifest(tmp_path, "forage_ai.yaml", episodes=1, maxSteps=10).read_text())
    document["spec"]["bundle"] = digest
    (tmp_path / "turn").write_text(TURN_SECRET + "\n")
    settings = {
        "pod_name": "gx-forage-ai-2",
        "base_path": "/play/forage-ai/{ordinal}/",
        "secret": SECRET,
        "turn_urls": '["turn:127.0.0.1:3478"]',
        "turn_secret_file": str(tmp_path / "turn"),
    }
    with game_pod_process(tmp_path, document, **settings) as port:
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/play/forage-ai/2/readyz").json() == {"ready": True}
        assert httpx.get(f"{base}/load").json()["pod"] == "gx-forage-ai-2"
        moved = httpx.get(f"{base}/play/forage-ai/2?t=abc")
        assert moved.status_code in (302, 307) and moved.headers["location"].endswith("/play/forage-ai/2/?t=abc")
        assert httpx.get(f"{base}/play/forage-ai/2/").status_code == 200
        assert httpx.get(f"{base}/play/forage-ai/2/files/policy.onnx").status_code == 404, "code is not served"

        async def play() -> tuple[ParticipantBot, dict]:
            bot = ParticipantBot("unused")
            bot.pod_url = f"{base}/play/forage-ai/2/"
            bot.token = sign_token(token_key(SECRET), {"x": "forage-ai", "p": "turn-user", "s": "s1", "n": 0, "q": {}})
            await bot.connect()
            credentials = await bot.sio.call("turn", {}, timeout=5)
            await asyncio.wait_for(bot.done.wait(), 60)
            await bot.sio.disconnect()
            return bot, credentials

        bot, credentials = asyncio.run(play())
        assert bot.completion_code, "the environment and policy came from the uploaded bundle"
        assert credentials["urls"] == ["turn:127.0.0.1:3478"] and TURN_SECRET not in json.dumps(credentials)
        expiry, participant = credentials["username"].split(":")
        assert participant == "turn-user" and 0 < int(expiry) - time.time() <= 3600
        expected = base64.b64encode(hmac.new(TURN_SECRET.encode(), credentials["username"].encode(),
                                             hashlib.sha1).digest()).decode()  # fmt: skip
        assert credentials["credential"] == expected


def test_a_pod_with_its_experiments_static_turn_credentials_mounted_hands_them_out(tmp_path: Path):
    document = yaml.safe_load(quick_manifest(tmp_path, "cartpole.yaml").read_text())
    mounted = tmp_path / "turn"  # as the operator mounts a credentialsSecret: one file per key
    mounted.mkdir()
    (mounted / "username").write_text("lab-user\n")
    (mounted / "credential").write_text("lab-credential\n")
    settings = {"secret": SECRET, "turn_urls": '["turn:relay.example.org:80"]', "turn_credentials_dir": str(mounted)}
    with game_pod_process(tmp_path, document, **settings) as port:

        async def ask() -> dict:
            bot = ParticipantBot("unused")
            bot.pod_url = f"http://127.0.0.1:{port}/"
            bot.token = sign_token(token_key(SECRET), {"x": "cartpole", "p": "p1", "s": "s1", "n": 0})
            await bot.connect()
            first = await bot.sio.call("turn", {}, timeout=5)
            (mounted / "credential").write_text("rotated\n")  # a rotated Secret counts from the next request
            second = await bot.sio.call("turn", {}, timeout=5)
            await bot.disconnect()
            return {"first": first, "second": second}

        answers = asyncio.run(ask())
    assert answers["first"] == {"urls": ["turn:relay.example.org:80"], "username": "lab-user",
                                "credential": "lab-credential", "ttl": None}  # fmt: skip
    assert answers["second"]["credential"] == "rotated"
