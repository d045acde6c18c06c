"""One research group's experiment cannot reach another's data, participants or secrets (issue 15).

Each test takes the part of one actor and tries every route that actor has: a game pod of
experiment `alpha` (its environment variables, its credential for the control plane's internal
API, the signed URLs it is given), a bundle running inside such a pod, a participant token.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from conftest import ROOT, quick_manifest

from gymkube.bot import ParticipantBot
from gymkube.keys import PARTICIPANT_TOKENS, POD_API, derive, experiment_key
from gymkube.platform.internal import allowed
from gymkube.platform.runtime.base import ExperimentRecord
from gymkube.sandbox import abi_version
from gymkube.spec import load_experiment_file
from gymkube.tokens import TokenError, sign_token, verify_token

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "storage"))
from s3server import find_weed, seaweed_s3  # noqa: E402

DIGEST = "sha256:" + "ab" * 32


def record(name: str, bundle: str | None = DIGEST) -> ExperimentRecord:
    path = ROOT / "examples" / "cartpole.yaml"
    experiment = load_experiment_file(path)[0]
    spec = experiment.spec.model_copy(update={"bundle": bundle})
    metadata = experiment.metadata.model_copy(update={"name": name})
    return ExperimentRecord(experiment.model_copy(update={"metadata": metadata, "spec": spec}))


@pytest.mark.parametrize(
    ("method", "key", "ok"),
    [
        ("PUT", "experiments/alpha/chunks/1-pod-abc-000001.zip", True),
        ("PUT", "experiments/alpha/progress/p1.json", True),
        ("GET", "experiments/alpha/progress/p1.json", True),
        ("GET", f"bundles/{'ab' * 32}.zip", True),
        ("GET", "experiments/alpha/chunks/1-pod-abc-000001.zip", False),  # a pod never reads data back
        ("PUT", f"bundles/{'ab' * 32}.zip", False),
        ("GET", f"bundles/{'cd' * 32}.zip", False),  # another experiment's bundle
        ("PUT", "experiments/beta/chunks/x.zip", False),
        ("GET", "experiments/beta/progress/p1.json", False),
        ("GET", "experiments/alpha/../beta/progress/p1.json", False),
        ("PUT", "experiments/alpha/progress/../../beta/progress/p1.json", False),
        ("PUT", "experiments/alpha/bundles/deadbeef.zip", False),  # where pods once archived bundles
        ("PUT", "platform/experiments/alpha/bundles/x.json", False),  # the control plane's record of trust
        ("PUT", "experiments/alpha/progress/sub/p1.json", False),
        ("PUT", "/experiments/alpha/progress/p1.json", False),
        ("PUT", "experiments/alpha-x/progress/p1.json", False),
        ("GET", "exports/alpha/alpha-steps.csv", False),
    ],
)
def test_a_pod_may_sign_only_its_own_chunks_and_progress_and_its_specs_bundle(method: str, key: str, ok: bool):
    assert allowed(record("alpha"), method, key) is ok


def test_a_participant_token_made_with_one_experiments_key_is_refused_by_another():
    secret = "the-platform-secret-of-this-install"
    alpha, beta = record("alpha"), record("beta")
    key_of = {
        r.name: derive(experiment_key(secret, r.namespace, r.name, r.uid), PARTICIPANT_TOKENS) for r in (alpha, beta)
    }
    token = sign_token(key_of["alpha"], {"x": "beta", "p": "p1", "s": "s1", "n": 0, "q": {}})
    with pytest.raises(TokenError):
        verify_token(key_of["beta"], token, "beta")  # claims beta, signed with alpha's key
    again = record("alpha")  # deleted and created again under the same name: a new uid, a new key
    renewed = derive(experiment_key(secret, again.namespace, again.name, again.uid), PARTICIPANT_TOKENS)
    with pytest.raises(TokenError):
        verify_token(
            renewed, sign_token(key_of["alpha"], {"x": "alpha", "p": "p1", "s": "s1", "n": 0, "q": {}}), "alpha"
        )


def pod_environ(platform: Any, pod_name: str) -> dict[str, str]:
    """The environment of one of the platform's game pod processes, as the pod itself sees it."""
    for pid in platform.pod_pids():
        raw = Path(f"/proc/{pid}/environ").read_bytes()
        env = dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)
        if env.get("GYMKUBE_POD_NAME") == pod_name:
            return env
    raise AssertionError(f"no game pod process named {pod_name}")


def renamed_cartpole(tmp_path: Path, name: str) -> Path:
    document = yaml.safe_load(quick_manifest(tmp_path, "cartpole.yaml", maxSteps=20).read_text())
    document["metadata"]["name"] = name
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def play(platform: Any, name: str, participant: str) -> ParticipantBot:
    bot = ParticipantBot(platform.entry(name, PROLIFIC_PID=participant), seed=1)
    asyncio.run(bot.run(60))
    assert bot.completion_code, f"{participant} finished {name}"
    return bot


@pytest.mark.skipif(find_weed() is None, reason="weed is installed with the dev extras")
def test_a_pod_of_one_experiment_cannot_list_read_write_or_delete_anothers_objects_in_s3(platform_factory, tmp_path):
    with seaweed_s3(tmp_path / "s3") as server:
        env = server.platform_env("study", "gymkube")
        platform = platform_factory(renamed_cartpole(tmp_path, "alpha"), renamed_cartpole(tmp_path, "beta"), env=env)
        play(platform, "alpha", "a1")
        play(platform, "beta", "b1")
        time.sleep(1.5)
        direct = server.storage("study", "gymkube")
        assert direct.list("experiments/alpha/chunks/") and direct.list("experiments/beta/chunks/"), "both stored data"
        [beta_progress] = direct.list("experiments/beta/progress/")

        pod = pod_environ(platform, "alpha-0")
        platform_secrets = {
            server.secret_key, server.access_key, (platform.data_dir / "secret").read_text().strip(),
            (platform.data_dir / "admin-secret").read_text().strip(),
        }  # fmt: skip
        assert not [k for k in pod if k.startswith("AWS_") or k == "GYMKUBE_ADMIN_SECRET"], sorted(pod)
        assert not [k for k, v in pod.items() if any(s in v for s in platform_secrets)], "a pod holds a platform key"

        credential = {"Authorization": f"Bearer {derive(pod['GYMKUBE_SECRET'], POD_API)}"}
        internal = httpx.Client(base_url=platform.base + "/internal/v1", headers=credential, timeout=10)

        def sign(method: str, key: str, experiment: str = "alpha") -> httpx.Response:
            return internal.post(f"/experiments/{experiment}/storage", json={"ops": [{"method": method, "key": key}]})

        assert sign("GET", beta_progress, experiment="beta").status_code == 401  # alpha's credential, beta's name
        for method, key in [
            ("GET", beta_progress),
            ("PUT", "experiments/beta/chunks/9-evil.zip"),
            ("PUT", "experiments/alpha/../beta/chunks/9-evil.zip"),
            ("GET", "experiments/beta/"),
        ]:
            assert sign(method, key).status_code == 403, (method, key)  # fmt: skip
        for method in ("DELETE", "LIST", "HEAD"):
            assert sign(method, "experiments/beta/progress/b1.json").status_code == 422
        assert internal.post("/experiments/beta/turn", json={"participant": "b1"}).status_code == 401

        put = sign("PUT", "experiments/alpha/chunks/0-probe.zip").json()["urls"][0]
        assert httpx.put(put, content=b"mine").status_code == 200, "its own writes work"
        elsewhere = put.replace("/experiments/alpha/chunks/0-probe.zip", "/experiments/beta/chunks/0-probe.zip")
        assert httpx.put(elsewhere, content=b"evil").status_code == 403, "a signed URL names one object"
        assert httpx.delete(put).status_code == 403, "nor does a PUT URL delete"
        bucket = server.endpoint + "/study"
        assert httpx.get(bucket, params={"list-type": "2", "prefix": "gymkube/"}).status_code == 403
        assert httpx.get(f"{bucket}/gymkube/{beta_progress}").status_code == 403, "no anonymous reads"
        assert not [k for k in direct.list("experiments/beta/") if "evil" in k]


@pytest.mark.skipif(abi_version() < 1, reason="the embedded runtime confines game pods with Landlock (Linux 5.13+)")
def test_an_embedded_game_pod_holds_no_platform_secret_and_its_code_cannot_touch_the_control_plane(
    platform_factory, tmp_path
):
    state = tmp_path / "data0"  # where platform_factory puts the first platform's state
    bundle = tmp_path / "bundle"
    shutil.copytree(ROOT / "tests" / "fixtures" / "bundle", bundle)
    (bundle / "snoop_env.py").write_text(SNOOP_ENV)
    document = {
        "apiVersion": "gymkube.io/v1alpha1", "kind": "Experiment", "metadata": {"name": "snoop"},
        "spec": {
            "bundle": str(bundle), "recruitment": {"participantParam": "PROLIFIC_PID"},
            "scenes": [
                {"type": "gym", "id": "play", "environment": {"entryPoint": "snoop_env:make",
                 "kwargs": {"state": str(state), "length": 3}}, "players": {"agent": {"type": "human"}},
                 "controls": {"keys": {"ArrowLeft": 0, "ArrowRight": 2}}, "episodes": 1, "countdownS": 0},
                {"type": "end"},
            ],
        },
    }  # fmt: skip
    manifest = tmp_path / "snoop.yaml"
    manifest.write_text(yaml.safe_dump(document))
    platform = platform_factory(manifest, env={"GYMKUBE_ADMIN_SECRET": "an-admin-secret-for-this-test-only"})
    researcher = platform.token("alice")
    tokens_before = stored_tokens(state)

    pod = pod_environ(platform, "snoop-0")
    assert "GYMKUBE_ADMIN_SECRET" not in pod
    secrets_here = {"an-admin-secret-for-this-test-only", (state / "secret").read_text().strip(), researcher}
    assert not [k for k, v in pod.items() if any(s in v for s in secrets_here)], "a pod holds a platform key"

    play(platform, "snoop", "p1")
    platform.stop()  # (not `finish`: replaying runs the bundle on the researcher's own machine, unconfined)
    assert stored_tokens(state) == tokens_before
    steps = platform.tables("snoop")["steps"]
    assert steps, "the game was played"
    tried = {f"info_{what}": {row[f"info_{what}"] for row in steps} for what in SNOOPS}
    assert tried == {f"info_{what}": {"refused"} for what in SNOOPS}, tried


def stored_tokens(state: Path) -> list[tuple[Any, ...]]:
    with sqlite3.connect(state / "state.db") as db:
        return db.execute("SELECT * FROM tokens ORDER BY sha256").fetchall()


SNOOPS = ("write_tokens", "read_secret", "read_admin_secret", "read_parent_environ", "list_state", "signal_parent")

SNOOP_ENV = '''
"""A bundle that tries, at every step, what a hostile researcher's code would; the info says how it went."""
import os
from pathlib import Path

from tiny_env import TinyEnv


def attempt(action):
    try:
        action()
    except OSError:
        return "refused"
    return "DONE"


class SnoopEnv(TinyEnv):
    def __init__(self, state, **kwargs):
        super().__init__(**kwargs)
        self.state = Path(state)

    def _snoop(self):
        parent = os.getppid()
        return {
            "write_tokens": attempt(lambda: (self.state / "state.db").open("a").write("[]")),
            "read_secret": attempt(lambda: (self.state / "secret").read_text()),
            "read_admin_secret": attempt(lambda: (self.state / "admin-secret").read_text()),
            "read_parent_environ": attempt(lambda: Path(f"/proc/{parent}/environ").read_bytes()),
            "list_state": attempt(lambda: os.listdir(self.state)),
            "signal_parent": attempt(lambda: os.kill(parent, 0)),
        }

    def step(self, action):
        observation, reward, terminated, truncated, info = super().step(action)
        return observation, reward, terminated, truncated, {**info, **self._snoop()}


def make(**kwargs):
    return SnoopEnv(**kwargs)
'''


def test_the_internal_api_is_in_the_schema_and_refuses_callers_without_a_pod_credential(platform_factory, tmp_path):
    """In the OpenAPI schema (so it is fuzzed with the rest); nothing answered without a credential."""
    platform = platform_factory(quick_manifest(tmp_path, "cartpole.yaml"))
    schema = httpx.get(platform.base + "/openapi.json").json()
    internal = [path for path in schema["paths"] if path.startswith("/internal/")]
    assert "/internal/v1/experiments/{name}/storage" in internal
    ops = {"ops": [{"method": "GET", "key": "experiments/cartpole/progress/x.json"}]}
    reply = httpx.post(platform.base + "/internal/v1/experiments/cartpole/storage", json=ops)
    assert reply.status_code == 401 and json.loads(reply.text)["detail"].startswith("only a game pod")
    forged = httpx.get(platform.base + "/internal/v1/blob/cartpole/experiments/cartpole/progress/x.json",
                       params={"m": "GET", "x": int(time.time()) + 60, "s": "0" * 64})  # fmt: skip
    assert forged.status_code == 403
