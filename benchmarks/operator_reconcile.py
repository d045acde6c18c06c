"""Benchmark: 100 Experiments applied at once until each has its children and a written status.

Run: `make bench-operator`. `gymkube operator` runs as its own process (as in a cluster) against
the emulated Kubernetes API of the tests (tests/k8s_emulator.py, served from this process) with
the production load-timer interval. It measures how fast the operator works through a burst; the
emulator is single-threaded Python, so this is no measure of a real API server's latency.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "operator")]

from k8s_emulator import EmulatedCluster  # noqa: E402
from operator_harness import EXPERIMENTS, SERVICES, STATEFULSETS, cartpole, emulated_cluster  # noqa: E402

from gymkube.platform.runtime.local import free_port  # noqa: E402

BURSTS = (10, 25, 50, 100)
TIMEOUT_S = 60


def burst(k8s: EmulatedCluster, count: int) -> tuple[float, float, set[str]]:
    """Create the experiments, then poll until each has its StatefulSet, a Service and a status."""
    bodies = [cartpole() | {"metadata": {"name": f"study-{i:03d}"}} for i in range(count)]
    started = time.perf_counter()
    for body in bodies:
        k8s.create(EXPERIMENTS, body)
    applied = time.perf_counter() - started
    done: set[str] = set()
    while len(done) < count and time.perf_counter() - started < TIMEOUT_S:
        statefulsets = {s["metadata"]["name"] for s in k8s.list(STATEFULSETS)}
        services = {s["metadata"]["name"] for s in k8s.list(SERVICES)}
        for item in k8s.list(EXPERIMENTS):
            name = item["metadata"]["name"]
            if (
                (item.get("status") or {}).get("phase")
                and {f"gx-{name}"} <= statefulsets
                and f"gx-{name}-0" in services
            ):
                done.add(name)
        time.sleep(0.2)
    return time.perf_counter() - started, applied, done


def measure(count: int) -> dict[str, object]:
    """One burst of `count` experiments against a fresh emulator and operator."""
    with tempfile.TemporaryDirectory() as folder, emulated_cluster(Path(folder)) as k8s:
        env = {**os.environ, "GYMKUBE_LOAD_INTERVAL_S": "5"}  # the tests' 0.2 s would be 500 polls a second
        liveness = f"http://127.0.0.1:{free_port()}/healthz"
        operator = subprocess.Popen(
            [sys.executable, "-m", "gymkube", "operator", "--liveness", liveness],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            elapsed, applied, done = burst(k8s, count)
        except OSError as exc:  # the emulator stops answering under the burst
            elapsed, applied, done = float("nan"), float("nan"), set()
            print(json.dumps({"experiments": count, "error": f"emulator stopped answering: {exc}"}))
        finally:
            operator.kill()
            operator.wait(10)
    return {"experiments": count, "reconciled": len(done), "seconds_to_all": round(elapsed, 2),
            "seconds_to_apply": round(applied, 2)}  # fmt: skip


def main() -> None:
    """Run bursts of growing size and print the figures."""
    machine = {"cpu": platform.machine(), "cores": os.cpu_count(), "python": platform.python_version()}
    print(json.dumps({"what": "operator reconcile bursts", "machine": machine}))
    for count in BURSTS:
        print(json.dumps(measure(count)), flush=True)


if __name__ == "__main__":
    main()
