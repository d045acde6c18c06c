"""Game pod settings, read only from GYMKUBE_* environment variables."""

from __future__ import annotations

import importlib.resources
from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class PodSettings(BaseSettings):
    """What the operator or the local runtime tells a game pod."""

    model_config = SettingsConfigDict(env_prefix="GYMKUBE_", extra="ignore")

    experiment_file: Path
    bundle_dir: Path | None = None
    storage: str = ".gymkube/storage"
    spool_dir: Path = Path(".gymkube/spool")
    pod_name: str = "pod-0"
    secret: str = "dev-secret"
    """This experiment's own key (gymkube/keys.py): it verifies participant tokens and proves the pod to the
    control plane. Never the platform's secret."""
    control_plane_url: str = ""
    """Set by both runtimes: the pod then holds no storage credentials and asks the control plane for signed
    storage URLs and TURN credentials. Unset (a pod run by hand, benchmarks): `storage` is used directly."""
    parent_pid: int = 0
    """Set by the embedded runtime: the control plane's pid; the pod stops (draining) when that process is gone."""
    sandbox: str = ""
    """`landlock`: confine the process before any experiment code runs (the embedded runtime sets it)."""
    sandbox_required: bool = False
    """Refuse to start when the sandbox cannot be set up (otherwise: a warning, and run unconfined)."""
    sandbox_deny: list[str] = []
    """Folders the pod must never reach, whatever else is allowed (the control plane's state folder)."""
    dev: bool = False
    base_path: str = "/"
    host: str = "127.0.0.1"
    port: int = 8100
    flush_interval_s: float = 1.0
    drain_timeout_s: float = 30.0
    static_dir: Path = Path(str(importlib.resources.files("gymkube") / "static"))
    max_message_bytes: int = 64 * 1024
    turn_urls: list[str] = []
    turn_secret_file: Path | None = None
    """The experiment's own TURN shared secret (spec.turn.secretName, mounted by the operator)."""
    turn_credentials_dir: Path | None = None
    """The experiment's own static TURN credentials (spec.turn.credentialsSecret): files `username` and `credential`."""
    pyodide_url: str = ""
    """Load Pyodide from here (e.g. https://cdn.jsdelivr.net/pyodide/v0.29.3/full/) instead of the pod."""
    package_index_url: str = ""
    """The package index micropip installs a browser game's packages from (default: PyPI)."""

    @property
    def resolved_base_path(self) -> str:
        """The base path with `{ordinal}` taken from the pod name (StatefulSet pods end in -N)."""
        ordinal = self.pod_name.rsplit("-", 1)[-1]
        return "/" + self.base_path.replace("{ordinal}", ordinal if ordinal.isdigit() else "0").strip("/")


@lru_cache
def get_settings() -> PodSettings:
    """The settings, read once (tests clear the cache)."""
    return PodSettings()
