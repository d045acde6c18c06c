"""The operator's entry point as the container runs it: a process of its own, stopped by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from operator_harness import EXPERIMENTS, STATEFULSETS, cartpole, emulated_cluster, wait_for

from gymkube.platform.runtime.local import free_port

EXPERIMENT = f"{EXPERIMENTS}/cartpole"
ENTRY = "from gymkube.operator.run import run_operator; raise SystemExit(run_operator())"


def test_the_operator_process_reconciles_reports_liveness_and_stops_on_sigterm(tmp_path: Path):
    health = f"http://127.0.0.1:{free_port()}/healthz"
    metrics_port = free_port()
    with emulated_cluster(tmp_path) as cluster:
        # The rest: set by emulated_cluster.
        env = {**os.environ, "GYMKUBE_LIVENESS_ENDPOINT": health, "GYMKUBE_METRICS_PORT": str(metrics_port)}
        log = (tmp_path / "operator.log").open("wb")
        process = subprocess.Popen([sys.executable, "-c", ENTRY], env=env, stdout=log, stderr=subprocess.STDOUT)
        try:
            cluster.create(EXPERIMENTS, cartpole())
            wait_for(lambda: cluster.get(f"{STATEFULSETS}/gx-cartpole"), "the StatefulSet", timeout_s=30)
            wait_for(lambda: "participantsSummary" in cluster.get(EXPERIMENT).get("status", {}), "a load tick")

            def alive() -> bool:
                try:
                    return httpx.get(health).status_code == 200
                except httpx.HTTPError:
                    return False

            wait_for(alive, "kopf's liveness endpoint")
            metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
            timed = 'gymkube_operator_reconcile_duration_seconds_count{handler="reconcile",outcome="done"}'
            assert any(line.startswith(timed) and float(line.split()[-1]) >= 1 for line in metrics.splitlines())
            process.send_signal(signal.SIGTERM)
            assert process.wait(30) == 0
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()
    output = (tmp_path / "operator.log").read_text()
    assert "Handler 'reconcile' succeeded" in output
    assert "Timer 'load' succeeded" not in output, "the load timer's routine successes are not logged"
