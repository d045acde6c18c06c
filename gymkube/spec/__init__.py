"""The Experiment spec: pydantic models (also the Python API), safe loading with readable errors, and the CRD.

Every model is built with Python names and written out with `to_yaml()`; the manifest loads back equal::

    from gymkube import spec

    experiment = spec.Experiment(
        metadata=spec.Metadata(name="cartpole"),
        spec=spec.ExperimentSpec(scenes=[spec.GymScene(...), spec.EndScene()]),
    )
    print(experiment.to_yaml())
"""

from __future__ import annotations

from gymkube.spec.controls import Controls, Gamepad
from gymkube.spec.experiment import (
    API_VERSION,
    KIND,
    Attention,
    DataSpec,
    Ending,
    Endings,
    EntryChecks,
    Exclusion,
    Experiment,
    ExperimentSpec,
    Metadata,
    Recruitment,
    TurnSpec,
)
from gymkube.spec.gym import (
    Atlas,
    EnvironmentSpec,
    GroupSpec,
    GymScene,
    HudSource,
    HumanPlayer,
    NoopPlayer,
    ObservationFeed,
    P2PSpec,
    PolicyPlayer,
    RandomPlayer,
    Rendering,
    SameCondition,
)
from gymkube.spec.load import (
    ManifestError,
    load_experiment_file,
    load_experiments,
    parse_experiment,
)
from gymkube.spec.scenes import Block, EndScene, PageField, Question, StaticScene, SurveyScene, UnityScene

__all__ = [
    "API_VERSION",
    "KIND",
    "Atlas",
    "Attention",
    "Block",
    "Controls",
    "DataSpec",
    "EndScene",
    "Ending",
    "Endings",
    "EntryChecks",
    "EnvironmentSpec",
    "Exclusion",
    "Experiment",
    "ExperimentSpec",
    "Gamepad",
    "GroupSpec",
    "GymScene",
    "HudSource",
    "HumanPlayer",
    "ManifestError",
    "Metadata",
    "NoopPlayer",
    "ObservationFeed",
    "P2PSpec",
    "PageField",
    "PolicyPlayer",
    "Question",
    "RandomPlayer",
    "Recruitment",
    "Rendering",
    "SameCondition",
    "StaticScene",
    "SurveyScene",
    "TurnSpec",
    "UnityScene",
    "load_experiment_file",
    "load_experiments",
    "parse_experiment",
]
