"""The Experiment spec: pydantic models, safe loading with readable errors, and the CRD."""

from __future__ import annotations

from gymkube.spec.experiment import API_VERSION, KIND, Experiment, ExperimentSpec
from gymkube.spec.gym import GymScene, HumanPlayer, NoopPlayer, PolicyPlayer, RandomPlayer
from gymkube.spec.load import (
    ManifestError,
    load_experiment_file,
    load_experiments,
    parse_experiment,
)
from gymkube.spec.scenes import Block, EndScene, StaticScene, SurveyScene, UnityScene

__all__ = [
    "API_VERSION",
    "KIND",
    "Block",
    "EndScene",
    "Experiment",
    "ExperimentSpec",
    "GymScene",
    "HumanPlayer",
    "ManifestError",
    "NoopPlayer",
    "PolicyPlayer",
    "RandomPlayer",
    "StaticScene",
    "SurveyScene",
    "UnityScene",
    "load_experiment_file",
    "load_experiments",
    "parse_experiment",
]
