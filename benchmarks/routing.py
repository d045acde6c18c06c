"""Benchmark: participant routing decisions per second on one core (10,000 participants, 20 pods).

Run: `make bench-routing`. Measures the routing decision alone (sticky lookup or least-loaded
choice) and the whole HTTP entry `/x/{name}` (checks, routing, token signing, redirect) served by
uvicorn pinned to one core while wrk loads it from the other. Prints a JSON line per measurement.
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from gymkube.platform.routing import PodInfo, Router

PODS = 20
PARTICIPANTS = 10_000
DECISIONS = 100_000


def machine() -> dict[str, object]:
    """What this ran on."""
    return {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
            "python": platform.python_version()}  # fmt: skip


def bench_router() -> dict[str, object]:
    """Router.route alone: a mix of returning (sticky) and new participants."""
    router = Router(capacity=10_000)
    router.pods = {f"pod-{i}": PodInfo(f"pod-{i}", f"http://10.0.0.{i}/", 10_000) for i in range(PODS)}
    people = [f"p{i}" for i in range(PARTICIPANTS)]
    for person in people:
        router.route(person)
    rng = random.Random(1)
    latencies = []
    started = time.perf_counter()
    for n in range(DECISIONS):
        who = rng.choice(people) if n % 4 else f"new{n}"
        t0 = time.perf_counter_ns()
        router.route(who)
        latencies.append(time.perf_counter_ns() - t0)
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {"what": "router decision", "decisions_per_s": round(DECISIONS / elapsed),
            "p50_us": latencies[len(latencies) // 2] / 1000, "p99_us": latencies[int(len(latencies) * 0.99)] / 1000}  # fmt: skip  # noqa: E501


def entry_app(state: Path) -> object:
    """The control plane app over twenty pods that exist only in the router's tables."""
    from gymkube.platform.main import build_app
    from gymkube.platform.runtime.base import ExperimentRecord, PodEndpoint
    from gymkube.platform.settings import PlatformSettings
    from gymkube.spec import load_experiment_file

    experiment = load_experiment_file(Path(__file__).resolve().parents[1] / "examples" / "cartpole.yaml")[0]
    spec = experiment.spec.model_copy(update={"capacity": 5000})
    record = ExperimentRecord(experiment.model_copy(update={"spec": spec}))

    class StaticRuntime:
        async def start(self) -> None: ...
        async def close(self) -> None: ...
        def get(self, name: str) -> ExperimentRecord | None:
            return record if name == "cartpole" else None

        def pods(self, name: str) -> list[PodEndpoint]:
            return [PodEndpoint(f"pod-{i}", f"http://10.0.0.{i}/", "cartpole", 1) for i in range(PODS)]

        def records(self) -> list[ExperimentRecord]:
            return []  # nothing to poll: the pods are imaginary

    return build_app(PlatformSettings(dev=True, state_dir=state, poll_interval_s=3600), runtime=StaticRuntime())  # type: ignore[arg-type]


WRK_SCRIPT = """
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/x/cartpole?PROLIFIC_PID=p" .. (counter * 7 % 10000))
end
"""


def bench_entry_http(connections: int, seconds: int = 10) -> dict[str, object]:
    """The whole `/x/{name}` entry over HTTP: server on core 0, wrk on core 1."""
    port = 18000 + os.getpid() % 1000
    with tempfile.TemporaryDirectory() as state:
        server = subprocess.Popen(
            ["taskset", "-c", "0", sys.executable, __file__, "serve", str(port), state],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    httpx.get(f"{base}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            with httpx.Client(base_url=base) as client:  # 10,000 known participants
                for i in range(PARTICIPANTS):
                    client.get(f"/x/cartpole?PROLIFIC_PID=p{i}")
            script = Path(state) / "ids.lua"
            script.write_text(WRK_SCRIPT)
            wrk = ["taskset", "-c", "1", "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
            out = subprocess.run(
                [*wrk, "-s", str(script), f"{base}/x/cartpole"], capture_output=True, text=True, check=True
            ).stdout
        finally:
            server.terminate()
            server.wait(10)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    assert p99 is not None
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
    return {"what": "HTTP entry (uvicorn on 1 core, wrk on the other)", "connections": connections,
            "decisions_per_s": round(rate),
            "p99_ms": round(float(p99.group(1)) * scale, 2)}  # fmt: skip


def main() -> None:
    """Run both measurements and print them."""
    print(json.dumps({"machine": machine(), "pods": PODS, "participants": PARTICIPANTS}))
    print(json.dumps(bench_router()))
    if shutil.which("wrk"):
        for connections in (4, 16):
            print(json.dumps(bench_entry_http(connections)))
    else:
        print(json.dumps({"what": "HTTP entry", "skipped": "install wrk (apt-get install wrk) to measure it"}))


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        import uvicorn

        uvicorn.run(entry_app(Path(sys.argv[3])), host="127.0.0.1", port=int(sys.argv[2]), log_level="warning",
                    access_log=False)  # type: ignore[arg-type]  # fmt: skip
    else:
        main()
