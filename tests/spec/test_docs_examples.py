"""The Python examples in docs/ run, write what the page says they write, and validate with their files."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gymkube import spec

REPO = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)


def blocks(page: str) -> list[tuple[str, str]]:
    return BLOCK.findall((REPO / "docs" / page).read_text(encoding="utf-8"))


def run_example(code: str) -> spec.Experiment:
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(code, "docs example", "exec"), namespace)  # noqa: S102 - our own docs
    experiment = namespace["experiment"]
    assert isinstance(experiment, spec.Experiment)
    return experiment


def validate(tmp_path: Path, experiment: spec.Experiment, bundle: str) -> str:
    """`gymkube validate` on the written manifest, saved beside a copy of the experiment's files."""
    shutil.copytree(REPO / "examples" / bundle, tmp_path / bundle)
    path = tmp_path / f"{experiment.name}.yaml"
    path.write_text(experiment.to_yaml(), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "gymkube", "validate", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_python_api_page_shows_what_to_yaml_writes(capsys: pytest.CaptureFixture[str]) -> None:
    (first, python), (then, written), *_ = blocks("python-api.md")
    assert (first, then) == ("python", "yaml")
    experiment = run_example(python)
    assert capsys.readouterr().out == written + "\n", "the page's YAML is not what the example prints"
    assert spec.load_experiments(written) == [experiment]


def test_the_worked_example_for_interactive_gym_users_validates_with_its_files(tmp_path: Path) -> None:
    (code,) = [text for lang, text in blocks("coming-from-interactive-gym.md") if "from gymkube import spec" in text]
    experiment = run_example(code)
    out = validate(tmp_path, experiment, experiment.spec.bundle or "")
    assert "warning" not in out, out
    pong = experiment.spec.scene("pong")
    assert isinstance(pong, spec.GymScene) and pong.mode == "client"
    assert pong.players["right"].act_every == 2  # type: ignore[union-attr]
    consent = experiment.spec.scene("consent")
    assert isinstance(consent, spec.StaticScene) and "gymkube.setContinue" in (consent.html or "")


def test_the_readmes_first_experiment_validates() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    manifests = [code for lang, code in BLOCK.findall(text) if lang == "yaml" and "kind: Experiment" in code]
    assert manifests, "the README shows a first experiment"
    for manifest in manifests:
        (experiment,) = spec.load_experiments(manifest, "README.md")
        assert experiment.spec.gym_scenes()
