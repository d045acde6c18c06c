"""`gymkube up`: the control plane with the local runtime, on one machine."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from gymkube.platform.main import build_app, persistent_secret
from gymkube.platform.serve import serve
from gymkube.platform.settings import PlatformSettings
from gymkube.spec import ManifestError, load_experiment_file
from gymkube.spec.experiment import Experiment


def run_embedded(files: list[Path], host: str, port: int, data_dir: Path) -> int:
    """Validate the manifests, then serve until Ctrl-C; returns the exit code."""
    experiments: list[tuple[Experiment, Path]] = []
    for path in files:
        try:
            experiments.extend((e, path.resolve()) for e in load_experiment_file(path))
        except ManifestError as exc:
            sys.stderr.write(exc.render() + "\n")
            return 2
    names = [e.name for e, _ in experiments]
    if len(set(names)) != len(names):
        sys.stderr.write(f"two experiments share a name: {sorted(names)}\n")
        return 2
    settings = PlatformSettings(
        dev=True,
        state_dir=data_dir,
        host=host,
        port=port,
        public_url=f"http://{host}:{port}",
        admin_secret=os.environ.get("GYMKUBE_ADMIN_SECRET") or persistent_secret(data_dir, "admin-secret"),
    )
    app = build_app(settings, initial=experiments)
    serve(app, host, port)
    return 0
