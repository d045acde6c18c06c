"""The Python API: the spec models built in Python, written with `to_yaml()`, read back by `gymkube validate`."""

from __future__ import annotations

import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from gymkube import spec
from gymkube.spec.base import SpecModel, TaggedModel

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_round_trips_through_to_yaml(path: Path) -> None:
    for experiment in spec.load_experiment_file(path):
        written = experiment.to_yaml()
        (back,) = spec.load_experiments(written, "written")
        assert back == experiment
        assert back.to_yaml() == written, "a second round trip changed the text"
        # What the manifest said is what is written (a 5 read as 5.0 is the same number).
        assert yaml.safe_load(written) == _without_comments(path, experiment.name)


def _without_comments(path: Path, name: str) -> object:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d and d["metadata"]["name"] == name]
    (document,) = documents
    return _string_keys(document)


def _string_keys(value: object) -> object:
    # YAML reads `{12: 1}` (gamepad buttons) with int keys; the model keeps them as the text the CRD's JSON has.
    if isinstance(value, dict):
        return {str(k) if isinstance(k, int) else k: _string_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_string_keys(v) for v in value]
    return value


def test_every_spec_model_is_in_the_python_api() -> None:
    def subclasses(cls: type) -> set[type]:
        return {c for sub in cls.__subclasses__() for c in {sub} | subclasses(sub)}

    models = {c for c in subclasses(SpecModel) if c.__module__.startswith("gymkube.spec.")} - {TaggedModel}
    missing = sorted(c.__name__ for c in models if getattr(spec, c.__name__, None) is not c)
    assert not missing, f"not exported from gymkube.spec: {missing}"


def test_an_experiment_written_in_python_validates_with_the_command(tmp_path: Path) -> None:
    play = spec.GymScene(
        id="play",
        environment=spec.EnvironmentSpec(id="CartPole-v1", kwargs={"max_episode_steps": 200}),
        players={
            "p0": spec.HumanPlayer(label="You"),
            "ai": spec.PolicyPlayer(file="models/ai.onnx", act_every=4, adapter="adapters:Recurrent"),
        },
        controls=spec.Controls(keys={"ArrowLeft": 0, "ArrowRight": 1, "ArrowLeft+ArrowRight": 0}, mode="tap"),
        episodes=2,
        hud="Step {step} of {max_steps}",
    )
    welcome = spec.StaticScene(id="welcome", html="<h1>Welcome</h1>\n<p>Two lines of a page.</p>\n")
    rounds = spec.Block(id="rounds", order="random", scenes=[play])
    experiment = spec.Experiment(
        metadata=spec.Metadata(name="python-made"),
        spec=spec.ExperimentSpec(
            scenes=[welcome, rounds, spec.EndScene(redirect_url="https://example.org/done?cc={code}")],
            endings=spec.Endings(wait_timeout=spec.Ending(code="WAITED", html="<p>No partner came.</p>")),
        ),
    )
    written = experiment.to_yaml()
    assert "html: |\n" in written, "a page of several lines is written as a block, as a person would"
    path = tmp_path / "python-made.yaml"
    path.write_text(written)
    done = subprocess.run(
        [sys.executable, "-m", "gymkube", "validate", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "python-made" in done.stdout
    (back,) = spec.load_experiment_file(path)
    assert back == experiment
    assert back.spec.endings.wait_timeout.code == "WAITED"
    assert back.spec.scene("play") == play


def test_the_python_treasure_grid_is_the_yaml_one() -> None:
    built = runpy.run_path(str(REPO / "examples/python/treasure_grid.py"))["experiment"]
    (loaded,) = spec.load_experiment_file(REPO / "examples/treasure_grid.yaml")
    assert built == loaded


def test_python_leaves_out_tags_a_manifest_must_give() -> None:
    scene = spec.EndScene()
    assert scene.to_manifest() == {"type": "end"}
    experiment = spec.Experiment(metadata=spec.Metadata(name="x"), spec=spec.ExperimentSpec(scenes=[scene]))
    data = experiment.to_manifest()
    assert (data["apiVersion"], data["kind"]) == (spec.API_VERSION, spec.KIND)
    for key in ("apiVersion", "kind"):
        with pytest.raises(spec.ManifestError) as refused:
            spec.parse_experiment({k: v for k, v in data.items() if k != key})
        assert refused.value.problems == [f"{key}: required field is missing"]
    untyped = dict(data, spec={"scenes": [{"id": "end"}]})
    with pytest.raises(spec.ManifestError, match="type"):
        spec.parse_experiment(untyped)


def test_python_gets_the_same_checks_as_yaml() -> None:
    with pytest.raises(ValidationError, match="controls"):
        spec.GymScene(id="play", environment=spec.EnvironmentSpec(id="CartPole-v1"), players={"p": spec.HumanPlayer()})  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="exactly one 'end' scene"):
        spec.ExperimentSpec(scenes=[spec.StaticScene(id="a", html="<p>x</p>")])
    with pytest.raises(ValidationError, match="extra"):
        spec.Metadata(name="x", lables={"a": "b"})  # type: ignore[call-arg]


def test_replace_makes_a_checked_copy_that_writes_what_was_given() -> None:
    (loaded,) = spec.load_experiment_file(REPO / "examples/treasure_grid.yaml")
    hunt = loaded.spec.scene("hunt")
    assert isinstance(hunt, spec.GymScene)
    again = hunt.replace(id="hunt-again", seed=7, controls={"keys": {"ArrowUp": 1}, "mode": "tap"})
    assert (again.id, again.seed, again.controls.mode, again.hooks) == ("hunt-again", 7, "tap", hunt.hooks)
    assert hunt.id == "hunt", "the original is unchanged"
    assert again.to_manifest() == hunt.to_manifest() | {
        "id": "hunt-again",
        "seed": 7,
        "controls": {"keys": {"ArrowUp": 1}, "mode": "tap"},
    }
    with pytest.raises(ValidationError, match="fps"):
        hunt.replace(fps=1000)
    with pytest.raises(TypeError, match="fsp"):
        hunt.replace(fsp=30)
