"""What the spec takes for code during play (hooks, the HUD, policy adapters, the exclusion rule) and for TURN."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gymkube.spec import ManifestError
from gymkube.spec.load import load_experiment_file, load_experiments

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def document(**spec: Any) -> dict[str, Any]:
    base = yaml.safe_load((EXAMPLES / "treasure_grid.yaml").read_text())
    gym = base["spec"]["scenes"][1]
    gym.update(spec.pop("gym", {}))
    base["spec"].update(spec)
    return base


def problems(doc: dict[str, Any]) -> str:
    with pytest.raises(ManifestError) as caught:
        load_experiments(yaml.safe_dump(doc))
    return caught.value.render()


def test_the_example_says_everything_it_means():
    (experiment,) = load_experiment_file(EXAMPLES / "treasure_grid.yaml")
    scene = experiment.spec.gym_scenes()[0]
    assert scene.hooks == "grid_hooks:TreasureHooks" and scene.hud.environment and scene.controls.mode == "turn"
    assert scene.controls.keymap()["ArrowUp+ArrowLeft"] == 5 and scene.controls.keymap()["pad:a1-"] == 1
    assert scene.controls.capture_keys == [" ", "ArrowUp", "ArrowDown", "ArrowLeft", "ArrowRight"]


@pytest.mark.parametrize(
    ("gym", "message"),
    [
        ({"hud": {"function": "m:f", "environment": True}}, "exactly one of 'function'"),
        ({"hud": {}}, "exactly one of 'function'"),
        ({"hud": {"function": "not an entry point"}}, "hud"),
        ({"hud": "x" * 201}, "hud"),
        ({"hooks": "hooks"}, "hooks"),
        ({"players": {"explorer": {"type": "human"}, "ai": {"type": "policy", "file": "p.onnx", "actEvery": 0}}},
         "actEvery"),
        ({"players": {"explorer": {"type": "human"}, "ai": {"type": "policy", "file": "p.onnx", "adapter": "x"}}},
         "adapter"),
    ],
)  # fmt: skip
def test_code_the_scene_names_must_be_module_and_name(gym: dict[str, Any], message: str):
    assert message in problems(document(gym=gym))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"exclusion": {"hook": "rules"}}, "exclusion.hook"),
        ({"exclusion": {"hook": "rules:f", "everyS": 0.1}}, "everyS"),
        ({"turn": {"secretName": "a", "credentialsSecret": "b", "urls": ["turn:t:3478"]}}, "give one of"),
        ({"turn": {"credentialsSecret": "metered"}}, "'urls' must name the TURN server"),
        ({"turn": {"credentialsSecret": "Not_A_Name", "urls": ["turn:t:3478"]}}, "credentialsSecret"),
    ],
)
def test_the_exclusion_rule_and_turn_credentials_are_checked(spec: dict[str, Any], message: str):
    assert message in problems(document(**spec))


def test_static_turn_credentials_and_an_exclusion_rule_are_taken():
    doc = document(turn={"credentialsSecret": "metered", "urls": ["turn:global.relay.metered.ca:80?transport=tcp"]},
                   exclusion={"hook": "rules:screen", "everyS": 10})  # fmt: skip
    (experiment,) = load_experiments(yaml.safe_dump(doc))
    assert experiment.spec.turn.secret == "metered" and experiment.spec.exclusion.every_s == 10
