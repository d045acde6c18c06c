"""Browser modes in the spec: what `client` and `p2p` scenes may hold, and `gymkube validate`'s warnings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gymkube.spec import ManifestError
from gymkube.spec.load import load_experiments

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HUMAN = {"type": "human"}


def pong(example: str, **gym: Any) -> dict[str, Any]:
    document = yaml.safe_load((EXAMPLES / example).read_text())
    scene = next(s for s in document["spec"]["scenes"] if s["type"] == "gym")
    scene.update(gym)
    return document


@pytest.mark.parametrize(
    ("example", "change", "message"),
    [
        ("pong_client.yaml", {"players": {"left": HUMAN, "right": HUMAN}}, "use 'p2p' for several"),
        ("pong_p2p.yaml", {"players": {"left": HUMAN, "right": {"type": "noop"}}, "group": None}, "needs two or more"),
        ("pong_client.yaml", {"rendering": {"mode": "rgb"}}, "'rendering.mode: rgb' needs 'server'"),
        ("pong_p2p.yaml", {"p2p": {"inputDelay": 99}}, "inputDelay"),
        ("pong_p2p.yaml", {"controls": {"keys": {"ArrowUp": 1}, "mode": "turn"}}, "turn-based play"),
    ],
)  # fmt: skip
def test_a_browser_scene_that_cannot_work_is_refused_with_the_reason(example: str, change: dict, message: str) -> None:
    with pytest.raises(ManifestError) as caught:
        load_experiments(yaml.safe_dump(pong(example, **change)))
    assert message in caught.value.render()


def test_p2p_takes_onnx_policies_and_hands_a_lost_partners_seat_to_its_fallback() -> None:
    fallback = {"type": "policy", "file": "policy.onnx", "observation": {"key": "right"}}
    document = pong("pong_p2p.yaml", players={"left": HUMAN | {"fallback": {"type": "random"}},
                                              "right": HUMAN | {"fallback": fallback},
                                              "third": {"type": "policy", "file": "policy.onnx"}})  # fmt: skip
    next(s for s in document["spec"]["scenes"] if s["type"] == "gym")["group"]["onDropout"] = "fallback"
    (experiment,) = load_experiments(yaml.safe_dump(document))
    (scene,) = experiment.spec.gym_scenes()
    assert scene.grouping.on_dropout == "fallback" and scene.players["third"].type == "policy"


def test_validate_warns_about_an_environment_the_browser_cannot_import(tmp_path: Path) -> None:
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "np_env.py").write_text("import numpy\nimport helper\n\nclass E:\n    pass\n")
    (tmp_path / "envs" / "helper.py").write_text("X = 1\n")
    document = pong("pong_p2p.yaml", environment={"entryPoint": "np_env:E"})
    document["spec"]["bundle"] = "envs"
    (tmp_path / "x.yaml").write_text(yaml.safe_dump(document))
    listed = pong("pong_p2p.yaml", environment={"entryPoint": "np_env:E", "packages": ["numpy>=2"]})
    listed["spec"]["bundle"] = "envs"
    (tmp_path / "listed.yaml").write_text(yaml.safe_dump(listed))
    out = subprocess.run(
        [sys.executable, "-m", "gymkube", "validate", str(tmp_path / "x.yaml"), str(tmp_path / "listed.yaml"),
         str(EXAMPLES / "pong_p2p.yaml")],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    warnings = [line for line in out.splitlines() if "warning" in line]
    assert any("x.yaml" in w and "imports numpy, which the browser does not have" in w for w in warnings), out
    assert any("x.yaml" in w and "get_state()/set_state()" in w for w in warnings), out
    assert not any("listed.yaml" in w and "imports" in w for w in warnings), out  # helper is local, numpy listed
    assert not any("pong_p2p.yaml" in w for w in warnings), out


def test_validate_checks_the_hooks_and_adapter_modules_a_browser_scene_imports(tmp_path: Path) -> None:
    (tmp_path / "envs").mkdir()
    (tmp_path / "envs" / "pong_env.py").write_text((EXAMPLES / "pong" / "pong_env.py").read_text())
    (tmp_path / "envs" / "my_hooks.py").write_text("import pandas\n\nclass H:\n    pass\n")
    right = {"type": "policy", "file": "p.onnx", "adapter": "gone_adapter:A"}
    document = pong("pong_client.yaml", hooks="my_hooks:H", players={"left": HUMAN, "right": right})
    document["spec"]["bundle"] = "envs"
    (tmp_path / "x.yaml").write_text(yaml.safe_dump(document))
    out = subprocess.run([sys.executable, "-m", "gymkube", "validate", str(tmp_path / "x.yaml")],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "my_hooks.py imports pandas, which the browser does not have" in out, out
    assert "module 'gone_adapter' is not in the experiment's files" in out, out


@pytest.mark.parametrize(
    ("controls", "message"),
    [
        ({"keys": {"ArrowUp+ArrowUp": 1}}, "names a key twice"),
        ({"keys": {"a+b": 1, "b+a": 2}}, "are the same keys"),
        ({"keys": {"a+b+c+d": 1}}, "keys"),
        ({"keys": {}}, "must map at least one key"),
        ({"keys": {}, "gamepad": {"buttons": {40: 1}}}, "gamepad"),
        ({"keys": {"a": 1}, "gamepad": {"axes": {"0": 1}}}, "gamepad"),
        ({"keys": {"a": 1}, "mode": "sometimes"}, "mode"),
        ({"keys": {"a": 1}, "turnTimeoutS": 0}, "turnTimeoutS"),
    ],
)
def test_controls_that_cannot_work_are_refused_with_the_reason(controls: dict, message: str) -> None:
    with pytest.raises(ManifestError) as caught:
        load_experiments(yaml.safe_dump(pong("pong_client.yaml", controls=controls)))
    assert message in caught.value.render(), caught.value.render()


def test_a_gamepad_alone_may_control_a_game_and_its_buttons_read_the_same_from_yaml_and_json() -> None:
    document = pong("pong_client.yaml", controls={"keys": {}, "gamepad": {"buttons": {12: 1}, "axes": {"1+": 2}}})
    (from_yaml,) = load_experiments(yaml.safe_dump(document))
    document["spec"]["scenes"][1]["controls"]["gamepad"]["buttons"] = {"12": 1}  # kubectl / the CRD: text keys
    (from_json,) = load_experiments(yaml.safe_dump(document))
    controls = from_yaml.spec.gym_scenes()[0].controls
    assert controls == from_json.spec.gym_scenes()[0].controls
    assert controls.keymap() == {"pad:b12": 1, "pad:a1+": 2} and controls.capture_keys == []
