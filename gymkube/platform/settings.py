"""Control plane settings: one pydantic-settings class, read from GYMKUBE_* variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_ADMIN_SECRET = "change-me"


class SettingsError(RuntimeError):
    """A setting that makes the control plane unsafe or unable to start."""


class PlatformSettings(BaseSettings):
    """How the control plane runs; `gymkube up` sets `dev` and a local state folder."""

    model_config = SettingsConfigDict(env_prefix="GYMKUBE_", extra="ignore")

    dev: bool = False
    admin_secret: str = DEFAULT_ADMIN_SECRET
    secret: str = Field("", description="Signs participant tokens; game pods verify with the same value.")
    state_dir: Path = Path(".gymkube")
    storage: str = ""
    public_url: str = "http://127.0.0.1:8000"
    runtime: Literal["local", "kubernetes"] = "local"
    host: str = "127.0.0.1"
    port: int = 8000
    poll_interval_s: float = 1.0
    dashboard_dir: Path | None = None
    """Where the dashboard keeps its index of the data (default: the state folder). Each replica's own: the chart
    gives each pod a folder of its own, since SQLite must not be shared over a network volume."""
    metrics_port: int | None = Field(None, ge=1, le=65535)
    """Serve Prometheus' `/metrics` on this port of its own (the chart sets it); unset: at `/metrics` on `port`."""
    max_upload_bytes: int = 50 * 1024 * 1024
    drain_timeout_s: float = 30.0
    turn_urls: list[str] = []
    """TURN servers game pods hand to browsers (p2p); credentials come from the control plane."""
    turn_secret_file: Path | None = None
    """The TURN server's shared secret (coturn `static-auth-secret`); it never reaches a game pod."""
    turn_credentials_dir: Path | None = None
    """Or static TURN credentials (a service's username and credential): a folder with the files `username` and
    `credential` (the chart mounts its Secret there). Handed to browsers as they are."""
    turn_secrets_dir: Path | None = None
    """Embedded runtime: experiments' own TURN Secrets, one folder per Secret (`NAME/secret`, or `NAME/username` and
    `NAME/credential`), named by `spec.turn.secretName` / `credentialsSecret`. Default: STATE_DIR/turn-secrets."""
    internal_url: str = ""
    """Where game pods reach this control plane (default: http://HOST:PORT; on Kubernetes: its Service)."""
    entry_per_minute: float = Field(
        0.0, ge=0, description="New participants per client address per minute (0: no limit; the chart sets one)."
    )
    entry_burst: float = Field(60.0, ge=1, description="New participants one address may bring at once (a lab).")
    forwarded_allow_ips: str = Field(
        "127.0.0.1", description="Proxies whose X-Forwarded-For names the client (the ingress controller)."
    )
    sandbox_required: bool = False
    allowed_images: list[str] = []
    """Patterns an experiment's `spec.image` must match, as the operator checks them (the chart gives both the same
    list, so the REST API refuses with a 422 what the operator would refuse). Empty: not checked here (the local
    runtime runs no images)."""
    """Embedded runtime: refuse to start a game pod that cannot be confined (Landlock) instead of warning."""

    @property
    def resolved_internal_url(self) -> str:
        """Where game pods reach this control plane."""
        if self.internal_url:
            return self.internal_url.rstrip("/")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def resolved_turn_secrets_dir(self) -> Path:
        """Where the embedded runtime finds experiments' own TURN Secrets."""
        return self.turn_secrets_dir or self.state_dir / "turn-secrets"

    @property
    def storage_url(self) -> str:
        """Where data, bundles and progress go (default: a folder in the state dir)."""
        return self.storage or str(self.state_dir / "storage")

    def check(self) -> None:
        """Refuse to run with a default or weak admin secret outside development mode, or without a shared
        platform secret on Kubernetes (replicas and the operator must derive the same experiment keys)."""
        if self.runtime == "kubernetes" and len(self.secret) < 16:
            raise SettingsError(
                "GYMKUBE_SECRET is unset or shorter than 16 characters: with the kubernetes runtime every control "
                "plane replica and the operator must share it (the chart sets it from its Secret)"
            )
        if self.dev:
            return
        if self.admin_secret == DEFAULT_ADMIN_SECRET or len(self.admin_secret) < 16:
            raise SettingsError(
                "GYMKUBE_ADMIN_SECRET is unset, the default, or shorter than 16 characters; "
                "set a long random value (or GYMKUBE_DEV=true on a development machine)"
            )


@lru_cache
def get_settings() -> PlatformSettings:
    """The settings, read once (tests override them)."""
    return PlatformSettings()
