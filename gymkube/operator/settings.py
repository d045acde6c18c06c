"""Operator settings, read only from GYMKUBE_* environment variables (set by the Helm chart)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_resources() -> dict[str, Any]:
    return {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}


class OperatorSettings(BaseSettings):
    """How the operator runs game pods; everything an Experiment does not say itself."""

    model_config = SettingsConfigDict(env_prefix="GYMKUBE_", extra="ignore")

    image: str = "ghcr.io/gymkube/gymkube:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    storage: str = Field(description="Where game pods write data, e.g. s3://bucket/prefix.")
    storage_secret: str | None = Field(None, description="Secret whose keys become the pods' env (AWS_* etc.).")
    s3_endpoint: str | None = None
    token_secret: str = Field("gymkube-secrets", description="Secret with key `participant-token-secret`.")
    turn_secret: str | None = Field(None, description="Default Secret with key `secret` for TURN credentials.")
    turn_urls: list[str] = Field(default_factory=list)
    pyodide_url: str | None = Field(None, description="Browser games load Pyodide from here, not the game pod.")
    package_index_url: str | None = Field(None, description="Where browser games' micropip installs packages from.")
    public_url: str = Field(description="Where participants reach the platform, e.g. https://study.example.org.")
    ingress_class: str | None = Field(None, description="When set, an Ingress per experiment routes /play/NAME/.")
    ingress_host: str | None = None
    ingress_annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations of the per-experiment Ingress (e.g. websocket timeouts)."
    )
    drain_timeout_s: int = Field(30, ge=0)
    load_interval_s: float = Field(5.0, gt=0)
    game_pod_resources: dict[str, Any] = Field(default_factory=_default_resources)
    node_selector: dict[str, str] = Field(default_factory=dict)
    scale_up_at: float = Field(0.8, gt=0, le=1, description="Fraction of capacity at which another pod is added.")
    peering_name: str | None = Field(None, description="A KopfPeering to run as one of several replicas; unset: alone.")
    liveness_endpoint: str | None = Field("http://0.0.0.0:8080/healthz", description="kopf's health endpoint.")
    watch_namespace: str | None = Field(None, description="Watch Experiments in this namespace only; unset: all.")

    @field_validator("public_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")


@lru_cache
def get_settings() -> OperatorSettings:
    """The settings, read once (tests clear the cache)."""
    return OperatorSettings()
