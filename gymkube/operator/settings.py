"""Operator settings, read only from GYMKUBE_* environment variables (set by the Helm chart)."""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Network, IPv6Network
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, IPvAnyNetwork, SecretStr, field_validator, model_validator
from pydantic.alias_generators import to_camel
from pydantic_settings import BaseSettings, SettingsConfigDict

Network = IPv4Network | IPv6Network
METADATA_ENDPOINTS: tuple[Network, ...] = (IPv4Network("169.254.169.254/32"), IPv6Network("fd00:ec2::254/128"))
"""Cloud metadata endpoints (GCP, Azure, AWS, AWS over IPv6): node credentials live there; pods never reach them."""


def _default_resources() -> dict[str, Any]:
    return {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}}


class _ChartValues(BaseModel):
    """A block of the chart's values, passed on as JSON (camelCase keys, nothing unknown)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)


class PodGroup(_ChartValues):
    """Pods picked out by their namespace and labels (no labels: every pod of that namespace)."""

    namespace: str = Field(min_length=1, max_length=63)
    pod_labels: dict[str, str] = Field(default_factory=dict)


class IpBlock(_ChartValues):
    """A NetworkPolicy ipBlock: a range of addresses, minus the ranges in `except`."""

    cidr: IPvAnyNetwork
    except_: list[IPvAnyNetwork] = Field(default_factory=list, alias="except")

    @model_validator(mode="after")
    def _except_inside_cidr(self) -> IpBlock:
        outside = [str(e) for e in self.except_ if e.version != self.cidr.version or not e.subnet_of(self.cidr)]  # type: ignore[arg-type]
        if outside or self.cidr in self.except_:
            raise ValueError(f"ipBlock {self.cidr}: except must list ranges strictly inside it, not {outside}")
        return self


class StorageEndpoint(_ChartValues):
    """Where the S3 endpoint is: address ranges and/or pods of the cluster, and its TCP ports."""

    ip_blocks: list[IpBlock] = Field(default_factory=list)
    peers: list[dict[str, Any]] = Field(default_factory=list, description="NetworkPolicyPeers (in-cluster S3).")
    ports: list[int] = Field(min_length=1)

    @field_validator("ip_blocks")
    @classmethod
    def _not_the_metadata_endpoint(cls, blocks: list[IpBlock]) -> list[IpBlock]:
        for block in blocks:
            if any(block.cidr.version == m.version and block.cidr.subnet_of(m) for m in METADATA_ENDPOINTS):  # type: ignore[arg-type]
                raise ValueError(f"ipBlock {block.cidr} is the cloud metadata endpoint, which game pods never reach")
        return blocks

    @field_validator("ports")
    @classmethod
    def _valid_ports(cls, ports: list[int]) -> list[int]:
        if not all(1 <= port <= 65535 for port in ports):
            raise ValueError(f"ports must be between 1 and 65535, not {ports}")
        return ports


class GamePodNetwork(_ChartValues):
    """What each experiment's NetworkPolicy lets its game pods reach, and be reached by (the chart's networkPolicy)."""

    control_plane: PodGroup
    control_plane_port: int = Field(8000, ge=1, le=65535)
    operator: PodGroup
    ingress_controller: PodGroup
    storage: StorageEndpoint
    prometheus: PodGroup | None = None
    """Where Prometheus runs, when it may scrape the game pods' `/metrics`."""


class OperatorSettings(BaseSettings):
    """How the operator runs game pods; everything an Experiment does not say itself."""

    model_config = SettingsConfigDict(env_prefix="GYMKUBE_", extra="ignore")

    image: str = "ghcr.io/gymkube/gymkube:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    allowed_images: list[str] = Field(
        default_factory=list,
        description="Patterns (`*` matches anything) spec.image must match; empty: the platform's image only.",
    )
    storage: str = Field(
        description="The platform's storage (s3://bucket/prefix). Game pods' data goes there through the control "
        "plane; without it the operator does not start, since no completed step may be lost."
    )
    platform_secret: SecretStr = Field(
        description="The chart's participant-token-secret: each experiment's key is derived from it, and only "
        "that key reaches the experiment's pods."
    )
    control_plane_url: str = Field(
        description="Where game pods reach the control plane's internal API (its in-cluster Service URL)."
    )
    pyodide_url: str | None = Field(None, description="Browser games load Pyodide from here, not the game pod.")
    package_index_url: str | None = Field(None, description="Where browser games' micropip installs packages from.")
    public_url: str = Field(description="Where participants reach the platform, e.g. https://study.example.org.")
    ingress_class: str | None = Field(
        None, description="When set, an Ingress per experiment routes /play/NAMESPACE/NAME/."
    )
    ingress_host: str | None = None
    ingress_annotations: dict[str, str] = Field(
        default_factory=dict, description="Annotations of the per-experiment Ingress (e.g. websocket timeouts)."
    )
    network_policy: GamePodNetwork | None = Field(
        None, description="When set, each experiment's game pods get a NetworkPolicy built from it."
    )
    drain_timeout_s: int = Field(30, ge=0)
    load_interval_s: float = Field(5.0, gt=0)
    refused_retry_s: float = Field(
        30.0, gt=0, description="How often a refused experiment is looked at again (a Secret may get its label)."
    )
    game_pod_resources: dict[str, Any] = Field(default_factory=_default_resources)
    node_selector: dict[str, str] = Field(default_factory=dict)
    scale_up_at: float = Field(0.8, gt=0, le=1, description="Fraction of capacity at which another pod is added.")
    peering_name: str | None = Field(None, description="A KopfPeering to run as one of several replicas; unset: alone.")
    liveness_endpoint: str | None = Field("http://0.0.0.0:8080/healthz", description="kopf's health endpoint.")
    metrics_port: int | None = Field(None, ge=1, le=65535, description="Serve Prometheus' /metrics on this port.")
    watch_namespace: str | None = Field(None, description="Watch Experiments in this namespace only; unset: all.")

    @field_validator("public_url", "control_plane_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("platform_secret")
    @classmethod
    def _long_enough(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < 16:
            raise ValueError("the platform secret must be at least 16 characters")
        return value

    @property
    def image_patterns(self) -> list[str]:
        """What spec.image may be: the chart's allowedImages, else the platform's own image only."""
        return self.allowed_images or [self.image]


@lru_cache
def get_settings() -> OperatorSettings:
    """The settings, read once (tests clear the cache)."""
    return OperatorSettings()
