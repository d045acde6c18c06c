"""The embedded platform's state folder: a record it cannot read is skipped with a warning, not a crash."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from conftest import Platform, quick_manifest


def test_a_stale_experiment_record_is_ignored_and_the_platform_still_starts(tmp_path: Path):
    data = tmp_path / "data"
    (data / "experiments").mkdir(parents=True)
    (data / "experiments" / "old.json").write_text(json.dumps({"apiVersion": "gymkube.io/v1alpha1", "kind": "x"}))
    (data / "experiments" / "broken.json").write_text("{not json")
    platform = Platform([quick_manifest(tmp_path, "cartpole.yaml")], data)
    try:
        assert httpx.get(platform.entry("cartpole")).status_code in (200, 303)
    finally:
        platform.stop()
    log = platform.log_path.read_text()
    assert "ignoring" in log and "old.json" in log and "broken.json" in log
