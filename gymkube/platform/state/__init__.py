"""State the control plane must keep across restarts and share between replicas: researcher tokens, arrival ordinals.

Two homes, chosen by the runtime (see `open_state`):
- embedded (`gymkube up`, the local runtime): SQLite in the state folder (`state.db`), which the
  `gymkube token` command and the running control plane share safely (the file is locked per write);
  game pods are sandboxed away from it.
- Kubernetes: objects in the control plane's namespace, so any number of replicas agree and a
  restart with no persistent volume loses nothing: each token is a Secret named after its hash,
  ordinals are reserved in blocks from a ConfigMap with compare-and-swap on its resourceVersion.

Why the cluster rather than a database the chart points at: every install already has it, with
RBAC, backups and (where the admin enabled it) encryption at rest; a database would be one more
service an institution must run for a few dozen tokens and one counter per experiment.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from pathlib import Path

from gymkube.platform.auth import Researcher, TokenInfo

ORDINAL_BLOCK = 16
"""Ordinals a replica takes from the shared counter at a time (fewer round trips; gaps only after a restart)."""


class StateStore(ABC):
    """Researcher tokens (hashed) and per-experiment arrival counters."""

    ordinal_block: int = ORDINAL_BLOCK
    """How many ordinals a replica takes at once (1 where taking one costs nothing)."""

    async def start(self) -> None:  # noqa: B027 - most stores need nothing here
        """Open what the store needs."""

    async def close(self) -> None:  # noqa: B027
        """Release it."""

    @abstractmethod
    async def create_token(self, name: str, experiments: list[str] | None = None) -> str:
        """A new token for `name` (scoped to `experiments` when given); returns it once."""

    @abstractmethod
    async def verify_token(self, token: str) -> Researcher | None:
        """The researcher holding `token`, or None."""

    @abstractmethod
    async def list_tokens(self) -> list[TokenInfo]:
        """Every stored token (hashes and scopes, never the tokens)."""

    @abstractmethod
    async def revoke_tokens(self, name: str) -> int:
        """Delete every token of `name`; how many there were."""

    @abstractmethod
    async def reserve_ordinals(self, experiment: str, count: int) -> int:
        """Take `count` consecutive arrival numbers of `experiment`; the first of them."""


class OrdinalBlocks:
    """Arrival numbers for one replica, taken from a store's shared counter a block at a time."""

    def __init__(self, store: StateStore) -> None:
        self.store = store
        self.block = store.ordinal_block
        self._free: dict[str, range] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def next(self, experiment: str) -> int:
        """The next arrival number of `experiment`: unique across replicas and restarts.

        Arrivals on this replica wait for one reservation at a time, so a burst costs one round trip
        to the shared counter per block, not one per arrival.
        """
        async with self._locks.setdefault(experiment, asyncio.Lock()):
            free = self._free.get(experiment)
            if not free:
                first = await self.store.reserve_ordinals(experiment, self.block)
                free = range(first, first + self.block)
            self._free[experiment] = free[1:]
            return free[0]


def open_state(state_dir: Path, runtime: object) -> StateStore:
    """Where this control plane keeps its state: its runtime's Kubernetes namespace, else SQLite in `state_dir`.

    (A runtime with an API connection and a namespace is the kubernetes one: asked for them rather than
    imported, so the embedded control plane never loads the Kubernetes client, some 40 MB.)
    """
    kube, namespace = getattr(runtime, "kube", None), getattr(runtime, "namespace", None)
    if kube is not None and isinstance(namespace, str):
        from gymkube.platform.state.kubernetes import KubernetesState

        return KubernetesState(kube, namespace)
    from gymkube.platform.state.sqlite import SqliteState

    return SqliteState(state_dir / "state.db")


def open_state_for_command(state_dir: Path) -> StateStore:
    """The store a `gymkube token` command writes to: the cluster's when GYMKUBE_RUNTIME=kubernetes (as in the
    control plane's container), else the SQLite file in `state_dir`."""
    from gymkube.platform.settings import PlatformSettings

    if PlatformSettings().runtime == "kubernetes":
        from gymkube.kube import Kube, load_configuration
        from gymkube.platform.state.kubernetes import KubernetesState

        configuration, namespace = load_configuration()
        return KubernetesState(Kube(configuration), namespace)
    from gymkube.platform.state.sqlite import SqliteState

    return SqliteState(state_dir / "state.db")
