"""Policy adapters and actEvery: a recurrent ONNX policy whose memory the adapter carries between steps, acting
every third step; the same actions on the pod and through the page's feeds (as onnxruntime-web runs them), in
every episode (the memory starts over) and in every run with the same seed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import yaml
from conftest import EXAMPLES
from recurrent_policy import RIGHT, expected_actions, recurrent_bundle

from gymkube.game_pod.game import Game
from gymkube.game_pod.remote import sim_config
from gymkube.portable.policies import nested
from gymkube.portable.sim import Solo
from gymkube.spec import GymScene, load_experiments

STEPS = 20


def scene(bundle: Path) -> GymScene:
    document = yaml.safe_load((EXAMPLES / "pong_client.yaml").read_text())
    document["spec"]["bundle"] = str(bundle)
    gym = document["spec"]["scenes"][1]
    gym |= {"mode": "server", "episodes": 2, "maxSteps": STEPS, "countdownS": 0, "seed": 3}
    gym["players"]["right"] = RIGHT
    (experiment,) = load_experiments(yaml.safe_dump(document))
    return experiment.spec.gym_scenes()[0]


def server_actions(gym: GymScene, bundle: Path) -> dict[int, list[int]]:
    rows: list[dict[str, Any]] = []
    game = Game(gym, {"game": "g"}, bundle, lambda table, row: rows.append(row) if table == "steps" else None)
    for tick in range(3 * STEPS):
        game.countdown_until = 0
        game.tick(tick)
    assert {r["source_right"] for r in rows} == {"policy"}
    return {e: [r["action_right"] for r in rows if r["episode"] == e] for e in (1, 2)}


def test_a_recurrent_adapter_carries_its_memory_and_the_policy_acts_every_third_step(tmp_path: Path):
    bundle = recurrent_bundle(tmp_path / "bundle")
    gym = scene(bundle)
    first, again = server_actions(gym, bundle), server_actions(gym, bundle)
    expected = expected_actions(STEPS, 3)
    assert expected[:12] == [1] * 9 + [2] * 3 and set(expected[12:]) == {0}
    assert first == again == {1: expected, 2: expected}  # each episode starts with an empty memory; seeded runs agree


def run_page(config: dict[str, Any], session: ort.InferenceSession) -> list[int]:
    """Play one episode as the page does: feeds out, onnxruntime (here the CPU one) runs them, outputs back."""
    game = Solo(json.dumps(config))
    game.start(0.0)
    names = [o.name for o in session.get_outputs()]
    first = session.get_inputs()[0].name
    for step in range(1, STEPS + 1):
        outputs = {}
        for agent, _, inputs in json.loads(game.feeds(step * 33.0)):
            feed = {
                name or first: np.asarray(nested(flat, shape), dtype=np.float32)
                for name, (flat, shape) in inputs.items()
            }
            results = session.run(None, feed)
            outputs[agent] = [[n, r.ravel().tolist(), list(r.shape)] for n, r in zip(names, results, strict=True)]
        result = json.loads(game.tick(json.dumps(outputs) if outputs else "", step * 33.0))
        if result["end"]:
            break
    return [e["row"]["action_right"] for e in json.loads(game.take()) if e["k"] == "step"]


def test_in_the_browser_the_adapter_sees_the_same_outputs_and_acts_the_same(tmp_path: Path):
    bundle = recurrent_bundle(tmp_path / "bundle")
    gym = scene(bundle).model_copy(update={"mode": "client"})
    config = sim_config(gym, "g", seed=3, episode=1, rounds_done=0, record_observations=False)
    config["searchDir"] = str(bundle)
    session = ort.InferenceSession(str(bundle / "recurrent.onnx"), providers=["CPUExecutionProvider"])
    page = Solo(json.dumps(config))
    page.start(0.0)
    (agent, file, inputs), *_ = json.loads(page.feeds())
    assert (agent, file, sorted(inputs)) == ("right", "recurrent.onnx", ["h", "obs"])
    assert inputs["h"] == [[0.0], [1, 1]] and inputs["obs"][1] == [1, 6]
    assert run_page(config, session) == expected_actions(STEPS, 3)
