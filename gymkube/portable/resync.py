"""p2p state checks: peers hash their confirmed state; the authority compares and sends its state on a mismatch.

Every `hashEvery` confirmed frames a peer sends a hash of its state to the authority (the first human
seat still in the game), which compares it with its own; on a mismatch it sends its confirmed state,
and the other peer loads it and re-simulates (a resync). Hashes carry the receiver's resync
generation, so a hash sent before a resync is not compared with the state after it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from gymkube.portable.sim import Sim


def _first_number_path(value: Any, path: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    if isinstance(value, dict):
        for key in sorted(value):
            found = _first_number_path(value[key], (*path, key))
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _first_number_path(item, (*path, index))
            if found is not None:
                return found
    elif isinstance(value, int | float) and not isinstance(value, bool):
        return path
    return None


class Resync:
    """The hash comparison and resynchronisation half of a rollback `Peer` (which provides the state it reads)."""

    me: str
    episode: int
    frame: int
    confirmed: int
    emitted: int
    delay: int
    hash_every: int
    sim: Sim
    snapshots: dict[int, dict[str, Any]]
    rows: dict[int, dict[str, Any]]
    stats: dict[str, Any]
    _outbox: list[tuple[str, dict[str, Any]]]

    def _init_resync(self) -> None:
        self.sync_generation = 0  # resyncs applied here (hashes carry it, so stale ones are ignored)
        self.expected_generation: dict[str, int] = {}
        self.hashes: dict[int, str] = {}  # confirmed frame -> my hash (authority: to compare)
        self.peer_hashes: dict[tuple[str, int], str] = {}

    if TYPE_CHECKING:  # provided by the Peer

        @property
        def authority(self) -> str: ...

        @property
        def others(self) -> list[str]: ...

        def _event(self, kind: str, detail: dict[str, Any]) -> None: ...

        def _resimulate(self, start: int, now_ms: float) -> None: ...

        def _local_input(self, frame: int) -> None: ...

    def _hash(self, frame: int) -> None:
        snapshot = self.snapshots.get(frame)
        if snapshot is None:
            return
        digest = Sim.snapshot_hash(snapshot)
        if self.me == self.authority:
            self.hashes[frame] = digest
            for old in [f for f in self.hashes if f < frame - 50 * self.hash_every]:
                del self.hashes[old]
            for other in self.others:
                self._compare(other, frame)
        else:
            self._outbox.append((self.authority, {"t": "h", "a": self.me, "e": self.episode, "f": frame,
                                                  "h": digest, "g": self.sync_generation}))  # fmt: skip

    def _compare(self, other: str, frame: int) -> None:
        mine, theirs = self.hashes.get(frame), self.peer_hashes.get((other, frame))
        if mine is None or theirs is None:
            return
        self.peer_hashes.pop((other, frame), None)
        if mine == theirs:
            return
        self.stats["desyncs"] += 1
        self.expected_generation[other] = self.expected_generation.get(other, 0) + 1
        self._event("desync", {"peer": other, "frame": frame, "mine": mine, "theirs": theirs})
        at = self.confirmed
        self._outbox.append((other, {"t": "s", "e": self.episode, "f": at, "state": self.snapshots[at],
                                     "g": self.expected_generation[other]}))  # fmt: skip
        self.stats["resyncs"] += 1
        self._event("resync_sent", {"peer": other, "frame": at})

    def _on_hash(self, packet: dict[str, Any]) -> None:
        sender, frame = packet.get("a"), packet.get("f")
        fresh = packet.get("g", 0) >= self.expected_generation.get(str(sender), 0)
        if sender in self.others and isinstance(frame, int) and fresh:
            self.peer_hashes[(str(sender), frame)] = str(packet["h"])
            self._compare(str(sender), frame)

    def _apply_state(self, packet: dict[str, Any], now_ms: float) -> None:
        frame, state = packet["f"], packet["state"]
        self.sync_generation = int(packet.get("g", self.sync_generation + 1))
        self.stats["resyncs"] += 1
        self.stats["desyncs"] += 1
        self._event("resync", {"peer": self.authority, "frame": frame, "was_at": self.frame})
        self.sim.load(state)
        self.snapshots = {frame: state}
        if frame >= self.frame:  # behind the authority: jump to its frame
            for missing in range(self.frame + self.delay + 1, frame + self.delay + 1):
                self._local_input(missing)  # inputs for the frames skipped (the keys now)
            self.frame = frame
            self.rows.clear()
        else:
            self._resimulate(frame + 1, now_ms)
        self.confirmed = max(self.confirmed, frame)
        self.emitted = max(self.emitted, frame)  # rows up to here came from the diverged state: not re-sent
        self.rows = {f: r for f, r in self.rows.items() if f > frame}

    def perturb(self) -> None:
        """Test hook: corrupt this peer's confirmed state (the first number in it, plus one), so it desyncs."""
        at = self.confirmed
        snapshot = json.loads(json.dumps(self.snapshots[at]))
        path = _first_number_path(snapshot["env"])
        if path is None:
            return
        target = snapshot["env"]
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] += 1
        self.snapshots[at] = snapshot
        self.sim.load(snapshot)
        self._resimulate(at + 1, 0.0)
        self._event("perturbed", {"frame": at, "path": [str(p) for p in path]})
