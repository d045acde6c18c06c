"""Two control plane replicas behave as one, and losing one during an arrival burst loses no participant (issue 16).

Two real `gymkube platform` processes with the kubernetes runtime share the emulated API server,
as two replicas behind a Service would; the test sends each request to one of them in turn (as a
round-robin load balancer does) and, once one is killed, to the other. The game pods are small
HTTP servers that do what routing needs of a pod: they answer `/load` with the participants who
reached them (through a stand-in for the ingress) and form groups as members arrive. What is under
test is the control plane: who is sent where, by which replica, and what the REST API says.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import yaml
from conftest import EXAMPLES, zip_folder

from gymkube.platform.runtime.local import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from k8s_emulator import EmulatedCluster  # noqa: E402

PODS = "/api/v1/namespaces/default/pods"
CAPACITY = 120


def claims(token: str) -> dict[str, Any]:
    body = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))))


class FakePods:
    """Game pods as routing sees them, and the ingress path in front of them."""

    def __init__(self) -> None:
        self.arrivals: dict[str, list[dict[str, Any]]] = defaultdict(list)  # pod -> claims of who arrived
        self.group_size: dict[str, int] = {}
        self.lock = threading.Lock()
        self.servers: list[ThreadingHTTPServer] = []
        self.ingress_port = self._serve(self._ingress)

    def _serve(self, handle: Any) -> int:
        port = free_port()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the http.server name
                status, body = handle(self.path)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps(body).encode())

            def log_message(self, *_: Any) -> None: ...

        server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.servers.append(server)
        return port

    def _ingress(self, path: str) -> tuple[int, Any]:
        """`/play/default/<experiment>/<ordinal>/?t=...`: a participant reaches their pod."""
        parts = urlsplit(path)
        _, _, _, experiment, ordinal, _ = parts.path.split("/")
        token = parse_qs(parts.query)["t"][0]
        with self.lock:
            self.arrivals[f"gx-{experiment}-{ordinal}"].append(claims(token))
        return 200, {"ok": True}

    def add_pod(self, experiment: str, name: str, group_size: int) -> int:
        self.group_size[experiment] = group_size

        def load(path: str) -> tuple[int, Any]:
            with self.lock:
                here = len({c["p"] for c in self.arrivals[name]})
                arrived = [c["n"] for c in self.arrivals[name][-2000:]]
            report = {"pod": name, "experiment": experiment, "participants": here, "capacity": CAPACITY,
                      "draining": False, "ungrouped": here % group_size, "arrived": arrived}  # fmt: skip
            return 200, report

        return self._serve(load)

    def close(self) -> None:
        for server in self.servers:
            server.shutdown()


class Replica:
    """One `gymkube platform` process (a control plane pod with no volume of its own)."""

    def __init__(self, index: int, tmp: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(tmp / f"replica{index}.log", "wb")  # noqa: SIM115 - closed in kill()
        environment = {**os.environ, **env, "GYMKUBE_PORT": str(self.port), "GYMKUBE_STATE_DIR": str(tmp / f"r{index}")}
        self.process = subprocess.Popen([sys.executable, "-m", "gymkube", "platform"], env=environment,
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert self.process.poll() is None and time.monotonic() < deadline, (
                tmp / f"replica{index}.log"
            ).read_text()
            time.sleep(0.2)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()


@pytest.fixture
def study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[EmulatedCluster, FakePods, list[Replica]]]:
    with EmulatedCluster(tmp_path / "kubeconfig") as cluster:
        pods = FakePods()
        env = {"GYMKUBE_RUNTIME": "kubernetes", "KUBECONFIG": str(cluster.kubeconfig),
               "GYMKUBE_SECRET": "the-platform-secret-of-this-install", "GYMKUBE_ADMIN_SECRET": "an-admin-secret-here",
               "GYMKUBE_PUBLIC_URL": f"http://127.0.0.1:{pods.ingress_port}",
               "GYMKUBE_STORAGE": str(tmp_path / "storage"), "GYMKUBE_POLL_INTERVAL_S": "0.5"}  # fmt: skip
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        replicas = [Replica(i, tmp_path, env) for i in range(2)]
        try:
            yield cluster, pods, replicas
        finally:
            for replica in replicas:
                replica.kill()
            pods.close()


def add_game_pods(cluster: EmulatedCluster, pods: FakePods, experiment: str, group_size: int) -> None:
    """What the operator and kubelet would make: two ready game pods of the experiment."""
    for ordinal in range(2):
        name = f"gx-{experiment}-{ordinal}"
        port = pods.add_pod(experiment, name, group_size)
        cluster.create(PODS, {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "labels": {"gymkube.io/experiment": experiment}},
            "spec": {"containers": [{"name": "game-pod", "image": "x",
                                     "ports": [{"name": "http", "containerPort": port}]}]},
            "status": {"podIP": "127.0.0.1", "conditions": [{"type": "Ready", "status": "True"}]},
        })  # fmt: skip


def wait_until_both_route(replicas: list[Replica], experiment: str, token: str) -> None:
    deadline = time.monotonic() + 30
    for replica in replicas:
        while True:
            stats = httpx.get(f"{replica.base}/api/v1/experiments/{experiment}/stats",
                              headers={"Authorization": f"Bearer {token}"}).json()  # fmt: skip
            if sum(bool(p.get("alive")) for p in stats.get("pods", [])) == 2:
                break
            assert time.monotonic() < deadline, stats
            time.sleep(0.2)


def enter(replica: Replica, experiment: str, participant: str, browser: httpx.Client) -> str:
    """One entry through one replica, from the participant's browser; the pod it was sent to."""
    reply = browser.get(
        f"{replica.base}/x/{experiment}/go", params={"PROLIFIC_PID": participant, "sw": 1920, "sh": 1080}
    )
    assert reply.status_code == 303, reply.text
    location = reply.headers["location"]
    assert httpx.get(location).status_code == 200  # the browser follows it to the pod (the stand-in ingress)
    ordinal = urlsplit(location).path.rstrip("/").rsplit("/", 1)[-1]
    return f"gx-{experiment}-{ordinal}"


def manifest(example: str, name: str, **spec: Any) -> bytes:
    document = yaml.safe_load((EXAMPLES / example).read_text())
    document["metadata"]["name"] = name
    document["spec"].update(capacity=CAPACITY, **spec)
    return yaml.safe_dump(document).encode()


def test_two_replicas_route_stick_meet_and_serve_the_api_as_one_and_losing_one_loses_no_arrival(study):
    cluster, pods, replicas = study
    token = subprocess.run([sys.executable, "-m", "gymkube", "token", "create", "lab"], capture_output=True,
                           text=True, check=True).stdout.strip()  # fmt: skip
    api = [httpx.Client(base_url=r.base, headers={"Authorization": f"Bearer {token}"}, timeout=30) for r in replicas]

    # The REST API: what one replica creates, the other lists; a bundle uploaded to one, the other accepts.
    assert api[0].post("/api/v1/experiments", content=manifest("cartpole.yaml", "solo")).status_code == 201
    digest = api[1].post("/api/v1/bundles", content=zip_folder(EXAMPLES / "forage"),
                         headers={"Content-Type": "application/zip"}).json()["digest"]  # fmt: skip
    pairs = manifest("forage_human_human.yaml", "pairs", bundle=digest)
    assert api[1].post("/api/v1/experiments", content=pairs).status_code == 201
    for client in api:
        assert sorted(e["name"] for e in client.get("/api/v1/experiments").json()) == ["pairs", "solo"]
    add_game_pods(cluster, pods, "solo", group_size=1)
    add_game_pods(cluster, pods, "pairs", group_size=2)
    for experiment in ("solo", "pairs"):
        wait_until_both_route(replicas, experiment, token)

    # Sticky: in through one replica, back through the other, to the same pod.
    browsers = {f"s{i}": httpx.Client() for i in range(6)}
    homes = {p: enter(replicas[i % 2], "solo", p, b) for i, (p, b) in enumerate(browsers.items())}
    assert set(homes.values()) == {"gx-solo-0", "gx-solo-1"}, "new arrivals spread over the pods"
    assert {p: enter(replicas[(i + 1) % 2], "solo", p, browsers[p]) for i, p in enumerate(homes)} == homes

    # Groups: members alternating between the replicas still meet on one pod (arrivals a little slower
    # than the pods' load reports, as at any but the very first moment of a study).
    places = []
    for i in range(10):
        places.append(enter(replicas[i % 2], "pairs", f"g{i}", httpx.Client()))
        time.sleep(0.6)
    pairs = [places[i : i + 2] for i in range(0, 10, 2)]
    assert all(first == second for first, second in pairs), f"a pair's members were sent to different pods: {places}"
    assert len(set(places)) == 2, "new pairs spread over both pods"

    # 200 arrivals, one replica SIGKILLed after 60 of them: a load balancer's retry goes to the other.
    routed: dict[str, str] = {}
    for i in range(200):
        if i == 60:
            replicas[0].kill()
        participant, browser = f"b{i}", httpx.Client()
        for replica in (replicas[i % 2], replicas[(i + 1) % 2]):
            try:
                routed[participant] = enter(replica, "solo", participant, browser)
                break
            except httpx.ConnectError:
                continue
    assert len(routed) == 200, "every arrival was routed"
    with pods.lock:
        arrivals = {pod: [c["p"] for c in who] for pod, who in pods.arrivals.items() if pod.startswith("gx-solo")}
    for pod, who in arrivals.items():
        assert len(set(who)) <= CAPACITY, f"{pod} was sent more participants than it has places"
    burst = [p for who in arrivals.values() for p in who if p.startswith("b")]
    assert sorted(burst) == sorted(routed), "each arrival reached exactly one pod, once"
    numbers = {c["p"]: c["n"] for pod, who in pods.arrivals.items() if pod.startswith("gx-solo") for c in who}
    assert len(set(numbers.values())) == len(numbers) == 206, "no two participants share an arrival number"
