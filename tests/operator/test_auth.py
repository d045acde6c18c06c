"""The operator logs in with a client certificate (kind) or an exec plugin (EKS, GKE, AKS), and not without one.

The children are created by the operator's own client and the status is written by kopf, so an
experiment that gets both shows that both logged in with the kubeconfig's one credential.
"""

from __future__ import annotations

from pathlib import Path

import kopf
import pytest
from k8s_credentials import ACCEPTED, user_for
from operator_harness import (
    EXPERIMENTS,
    STATEFULSETS,
    cartpole,
    emulated_cluster,
    operator_runner,
    running_operator,
    wait_for,
)

EXPERIMENT = f"{EXPERIMENTS}/cartpole"


@pytest.mark.parametrize("method", ACCEPTED)
def test_the_operator_reconciles_with_a_client_certificate_or_an_exec_plugin(tmp_path: Path, method: str):
    with emulated_cluster(tmp_path) as k8s, pytest.MonkeyPatch.context() as env:
        env.setenv("KUBECONFIG", str(k8s.write_kubeconfig_for(user_for(method, k8s.credentials, tmp_path))))
        with running_operator():
            k8s.create(EXPERIMENTS, cartpole())
            wait_for(lambda: "participantsSummary" in (k8s.get(EXPERIMENT) or {}).get("status", {}), "a load tick")
        assert k8s.get(f"{STATEFULSETS}/gx-cartpole") is not None
        assert k8s.get(EXPERIMENT)["status"]["phase"] == "Pending"


@pytest.mark.parametrize("method", ["no-credential", "exec-plugin-wrong-token"])
def test_the_operator_stops_when_the_api_server_refuses_its_credential(tmp_path: Path, method: str):
    with emulated_cluster(tmp_path) as k8s, pytest.MonkeyPatch.context() as env:
        env.setenv("KUBECONFIG", str(k8s.write_kubeconfig_for(user_for(method, k8s.credentials, tmp_path))))
        k8s.create(EXPERIMENTS, cartpole())
        with operator_runner(reraise=False) as runner:
            runner.future.result(timeout=30)  # it stops by itself
        assert isinstance(runner.exception, kopf.LoginError), runner.output
        accepted = k8s.inspect(lambda emulator: list(emulator.calls))
        assert accepted == [("POST", EXPERIMENTS)], "only the test's own request was let in"
        assert k8s.get(f"{STATEFULSETS}/gx-cartpole") is None
        assert "status" not in k8s.get(EXPERIMENT)
