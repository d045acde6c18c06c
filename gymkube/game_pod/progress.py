"""A participant's progress, kept in storage at every scene change so any pod can resume it."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from gymkube.storage.backends import Storage

MAX_LATENCY_SAMPLES = 200


def progress_key(experiment: str, participant: str) -> str:
    """Where one participant's progress lives in storage."""
    return f"experiments/{experiment}/progress/{participant}.json"


@dataclass
class Progress:
    """Everything needed to put a participant back where they were."""

    experiment: str
    participant: str
    session: str
    ordinal: int
    flow: list[str]
    url_params: dict[str, str] = field(default_factory=dict)
    index: int = 0
    status: str = "active"
    completion_code: str | None = None
    answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    episodes_played: dict[str, int] = field(default_factory=dict)
    last_episode: dict[str, int] = field(default_factory=dict)
    game: dict[str, Any] | None = None
    scene_entered_ns: int = 0
    t_start_ns: int = field(default_factory=time.time_ns)
    t_end_ns: int | None = None
    client: dict[str, Any] = field(default_factory=dict)
    latency_ms: list[float] = field(default_factory=list)
    clock_offsets_ms: list[float] = field(default_factory=list)
    clock_offset_ms: float | None = None
    visibility_losses: int = 0
    focus_losses: int = 0
    connects: int = 0
    end_reason: str | None = None
    drops: int = 0
    waiting: dict[str, int] = field(default_factory=dict)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def current(self) -> str:
        """The scene instance the participant is in."""
        return self.flow[min(self.index, len(self.flow) - 1)]

    def add_latency(self, rtt: float, offset: float) -> None:
        """Keep a bounded window of round trips; the offset is a running median."""
        self.latency_ms = (self.latency_ms + [round(rtt, 2)])[-MAX_LATENCY_SAMPLES:]
        self.clock_offsets_ms = (self.clock_offsets_ms + [round(offset, 2)])[-25:]
        ordered = sorted(self.clock_offsets_ms)
        self.clock_offset_ms = round(ordered[len(ordered) // 2], 2)

    def to_json(self) -> bytes:
        """Serialised for storage."""
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> Progress:
        """Parse what `to_json` wrote."""
        return cls(**json.loads(data))

    def session_row(self, pod: str) -> dict[str, Any]:
        """A snapshot row for the sessions table (the newest per session wins at export)."""
        screen = self.client.get("screen")
        viewport = self.client.get("viewport")
        return {
            "experiment": self.experiment,
            "participant": self.participant,
            "session": self.session,
            "ordinal": self.ordinal,
            "status": self.status,
            "scene_index": self.index,
            "scene": self.current,
            "assignment": json.dumps(self.flow),
            "url_params": json.dumps(self.url_params, sort_keys=True),
            "user_agent": str(self.client.get("ua", ""))[:500],
            "screen": "x".join(map(str, screen)) if isinstance(screen, list) else None,
            "viewport": "x".join(map(str, viewport)) if isinstance(viewport, list) else None,
            "completion_code": self.completion_code,
            "answers": json.dumps(self.answers, sort_keys=True),
            "latency_ms": json.dumps(self.latency_ms),
            "clock_offset_ms": self.clock_offset_ms,
            "visibility_losses": self.visibility_losses,
            "focus_losses": self.focus_losses,
            "connects": self.connects,
            "drops": self.drops,
            "episodes_played": json.dumps(self.episodes_played, sort_keys=True),
            "end_reason": self.end_reason,
            "groups": json.dumps(self.groups, sort_keys=True) if self.groups else None,
            "wait_s": round(sum(g["waited_s"] for g in self.groups.values()), 3) if self.groups else None,
            "t_start_ns": self.t_start_ns,
            "t_end_ns": self.t_end_ns,
            "updated_ns": time.time_ns(),
            "pod": pod,
        }


def load_progress(storage: Storage, experiment: str, participant: str) -> Progress | None:
    """The stored progress, or None for a new participant."""
    try:
        return Progress.from_json(storage.get(progress_key(experiment, participant)))
    except KeyError:
        return None


def save_progress(storage: Storage, progress: Progress, snapshot: bytes | None = None) -> None:
    """Write the progress, or a `snapshot` of it taken earlier (blocking; call from a thread)."""
    storage.put(progress_key(progress.experiment, progress.participant), snapshot or progress.to_json())
