"""Static TURN credentials (a username and credential, as metered.ca and similar services issue them): the
experiment's own, from the embedded runtime's turn-secrets folder, or the platform's; Debian coturn with that
one long-term user relays Chromium's candidates with them and refuses a wrong credential."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml
from browser import chromium
from conftest import quick_manifest
from turnserver import turnserver

from gymkube.bot import ParticipantBot

GATHER = """async ({urls, username, credential}) => {
  const pc = new RTCPeerConnection({iceServers: [{urls, username, credential}], iceTransportPolicy: "relay"});
  const found = {relay: [], errors: []};
  pc.onicecandidate = (e) => { if (e.candidate?.type === "relay") found.relay.push(e.candidate.address); };
  pc.onicecandidateerror = (e) => found.errors.push(e.errorCode);
  pc.createDataChannel("probe");
  await pc.setLocalDescription(await pc.createOffer());
  const until = Date.now() + 5000;
  const pause = () => new Promise((r) => setTimeout(r, 100));
  while (!found.relay.length && !found.errors.length && Date.now() < until) await pause();
  pc.close();
  return found;
}"""


def credentials_of(platform: Any, experiment: str) -> dict[str, Any]:
    """What a participant's page gets when it asks its game pod for TURN credentials."""

    async def ask() -> dict[str, Any]:
        bot = ParticipantBot(platform.entry(experiment, PROLIFIC_PID=f"asks-{experiment}"))
        await bot.enter()
        await bot.connect()
        try:
            return await bot.sio.call("turn", {}, timeout=10)
        finally:
            await bot.disconnect()

    return asyncio.run(ask())


def write_secret(folder: Path, **keys: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for key, value in keys.items():
        (folder / key).write_text(value + "\n")


def test_an_experiments_static_turn_credentials_reach_its_participants_and_coturn_relays_with_them(
    platform_factory, tmp_path: Path
):
    with turnserver(tmp_path / "turn", static_user=("lab-user", "lab-credential")) as turn:
        own = quick_manifest(tmp_path, "pong_p2p.yaml")
        document = yaml.safe_load(own.read_text())
        document["spec"]["turn"] = {"credentialsSecret": "metered", "urls": [turn.url]}
        own.write_text(yaml.safe_dump(document))
        platform_wide = tmp_path / "platform-turn"
        write_secret(platform_wide, username="platform-user", credential="platform-credential")
        env = {"GYMKUBE_TURN_URLS": f'["{turn.url}"]', "GYMKUBE_TURN_CREDENTIALS_DIR": str(platform_wide)}
        platform = platform_factory(own, quick_manifest(tmp_path, "cartpole.yaml"), env=env)
        write_secret(platform.data_dir / "turn-secrets" / "metered", username="lab-user", credential="lab-credential")

        mine = credentials_of(platform, "pong-p2p")
        others = credentials_of(platform, "cartpole")
        assert mine == {"urls": [turn.url], "username": "lab-user", "credential": "lab-credential", "ttl": None}
        assert others["username"] == "platform-user"  # an experiment without its own gets the platform's

        with chromium() as browser:
            page = browser.new_page()
            relayed = page.evaluate(GATHER, mine)
            refused = page.evaluate(GATHER, others)  # coturn knows only the lab's user
    assert relayed["relay"] == ["127.0.0.1"] and not relayed["errors"], relayed
    assert not refused["relay"] and 401 in refused["errors"], refused
