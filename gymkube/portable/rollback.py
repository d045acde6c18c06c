"""`p2p` mode: each participant's browser steps its own copy of the group's game, kept in step by rollback.

Every peer runs the same seeded environment. Each tick a peer reads its participant's keys for the
frame `inputDelay` frames ahead and sends them to the others over an unreliable, unordered channel;
every packet repeats all inputs the receiver has not acknowledged (at least the last `redundancy`), so
a lost packet costs nothing. A frame whose remote inputs have not arrived is simulated with a
prediction (the remote player's last known input). When the real input differs, the peer goes back
to the snapshot before that frame and re-simulates up to now (a rollback). A peer never runs more
than `maxPrediction` frames ahead of the inputs it has; past that it waits (a stall).

Peers start their episodes at slightly different moments (their Python loads at its own pace), so one
can run a few frames ahead of the other for a whole game: it then sees the other's inputs late and rolls
back all the time, while the other shows its moves late. As in GGPO, every input packet says the
sender's frame and how far ahead the sender thinks it is; half the difference of the two views (so an
error in the one-way delay cancels) is the lead, and a peer that leads by more than `SYNC_LEAD`
frames waits a tick now and then (`waits` in the records) until the two are level.

A frame is *confirmed* once every player's input for it is known; its row is then final, and only
confirmed rows are recorded, so every peer records the same rows. Every `hashEvery` confirmed frames
the peers send a hash of the state to the authority (the first human seat), which compares; on a
mismatch it sends its confirmed state, and the other peer loads it and re-simulates (a resync).
Desyncs, resyncs, rollbacks, stalls, the transport and the peer round trip are in the records.

Packets are JSON text: `i` inputs, `h` a state hash, `s` a state for a resync, `p`/`q` a ping and
its echo. The page moves them over a DataChannel or, when none comes up, through the pod.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

from gymkube.portable.inputs import input_columns
from gymkube.portable.sim import PageGame, Sim

MAX_INPUTS_PER_PACKET = 64
SYNC_LEAD = 1.0
"""Frames ahead of a peer (half the difference of the two peers' views) beyond which a peer waits a tick."""
PING_EVERY_MS = 500.0
RTT_SAMPLES = 400
SOURCES = {"human": "h", "default": "d", "absent": "a"}
SOURCE_NAMES = {v: k for k, v in SOURCES.items()}


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


class Peer(PageGame):
    """One participant's side of a `p2p` game. The page calls `key`, `start`, `tick`, `receive` and `take`."""

    def __init__(self, config_json: str, me: str) -> None:
        super().__init__(config_json)
        config = self.config
        self.me = me
        self.humans = list(self.sim.humans)
        self.others = [a for a in self.humans if a != me]
        self.authority = self.humans[0]
        settings = config["p2p"]
        self.delay: int = settings["inputDelay"]
        self.max_prediction: int = settings["maxPrediction"]
        self.redundancy: int = settings["redundancy"]
        self.hash_every: int = settings["hashEvery"]
        self.default = config["defaultAction"]
        self.inputs: dict[int, dict[str, dict[int, tuple[int, str]]]] = {}  # episode -> agent -> frame -> input
        self.acked: dict[str, int] = dict.fromkeys(self.others, 0)  # my inputs each peer holds, contiguously
        self.acked_episode: dict[str, int] = dict.fromkeys(self.others, 0)
        self.rtt: list[float] = []
        self.fps: int = config["fps"]
        self.remote_frame: dict[str, tuple[int, int, float]] = {}  # peer -> (episode, its frame, when heard)
        self.remote_views: dict[str, float] = {}  # peer -> how far ahead of me it thinks it is
        self.waited = False
        self.jump_to = 0  # a peer started a later episode (its page was reloaded): this one is over
        self.last_ping = -1e18
        self.transport: dict[str, str] = {}
        self.sync_generation = 0  # resyncs applied here (hashes carry it, so stale ones are ignored)
        self.expected_generation: dict[str, int] = dict.fromkeys(self.others, 0)
        self.hashes: dict[int, str] = {}  # confirmed frame -> my hash (authority: to compare)
        self.peer_hashes: dict[tuple[str, int], str] = {}
        self._outbox: list[tuple[str, dict[str, Any]]] = []  # packets made between ticks (hashes, states)
        self.stats = self._new_stats()
        self.playing = False  # an episode is open (started and not yet confirmed over)
        self.episode = 0
        self._clear_episode()

    @staticmethod
    def _new_stats() -> dict[str, Any]:
        return {"rollbacks": 0, "resimulated": 0, "max_rollback": 0, "stalls": 0, "waits": 0, "desyncs": 0,
                "resyncs": 0}  # fmt: skip

    def _clear_episode(self) -> None:
        self.frame = 0
        self.confirmed = 0
        self.emitted = 0
        self.snapshots: dict[int, dict[str, Any]] = {}
        self.rows: dict[int, dict[str, Any]] = {}
        self.used: dict[int, dict[str, int]] = {}
        self.local_meta: dict[int, dict[str, Any]] = {}
        self.rollback_from: int | None = None

    # inputs ----------------------------------------------------------------------------

    def _episode_inputs(self, episode: int) -> dict[str, dict[int, tuple[int, str]]]:
        if episode not in self.inputs:
            self.inputs[episode] = {agent: {} for agent in self.humans}
        return self.inputs[episode]

    def key(self, key: str, down: bool, seq: int, client_ms: float, frame: int | None, frame_ms: float | None) -> None:
        """A key of this participant went down or up."""
        if self.playing:
            self.sim.slots[self.me].on_input(key, down, seq, client_ms, frame, frame_ms)

    def _contiguous(self, agent: str) -> int:
        known = self._episode_inputs(self.episode)[agent]
        frame = self.confirmed
        while frame + 1 in known:
            frame += 1
        return frame

    def _predict(self, agent: str, frame: int) -> int:
        known = self._episode_inputs(self.episode)[agent]
        for earlier in range(frame - 1, 0, -1):
            if earlier in known:
                return known[earlier][0]
        return int(self.default) if self.default != "previous" else 0

    def _actions(self, frame: int) -> dict[str, tuple[int, str]]:
        """The inputs of `frame`, predicted where not known yet (the predictions are kept, to spot a wrong one)."""
        inputs = self._episode_inputs(self.episode)
        actions = self.sim.ai_actions()
        used: dict[str, int] = {}
        for agent in self.humans:
            got = inputs[agent].get(frame)
            if got is None:
                used[agent] = self._predict(agent, frame)
                actions[agent] = (used[agent], "predicted")
            else:
                actions[agent] = (got[0], SOURCE_NAMES.get(got[1], "human"))
        self.used[frame] = used
        return actions

    # episodes ----------------------------------------------------------------------------

    def start(self, now_ms: float) -> str:
        """Begin the next episode; its first frame. The first `inputDelay` frames take the default action."""
        self.episode = self.next_episode
        self._clear_episode()
        seed = self.sim.reset(self.episode, self.rounds_done + 1)
        self.snapshots[0] = self.sim.save()
        inputs = self._episode_inputs(self.episode)
        default = int(self.default) if self.default != "previous" else 0
        for frame in range(1, self.delay + 1):
            for agent in self.humans:
                inputs[agent].setdefault(frame, (default, "d"))
        for old in [e for e in self.inputs if e < self.episode]:
            del self.inputs[old]
        self.hashes.clear()
        self.peer_hashes.clear()
        self.stats = self._new_stats()
        self.playing = True
        self.entries.append({"k": "start", "e": self.episode, "seed": seed, "t": now_ms})
        self.report_hooks()
        return json.dumps(self.sim.frame(self.game, now_ms))

    # the tick ----------------------------------------------------------------------------

    def _simulate(self, frame: int, now_ms: float) -> None:
        """Step `frame` (the sim is at frame - 1) with the best inputs known, and keep its row and snapshot."""
        self.rows[frame] = self.sim.advance(self._actions(frame), now_ms)
        self.snapshots[frame] = self.sim.save()

    def _rollback(self, now_ms: float) -> None:
        start, self.rollback_from = self.rollback_from, None
        if start is None or start > self.frame:
            return
        self.sim.load(self.snapshots[start - 1])
        self._resimulate(start, now_ms)
        depth = self.frame - start + 1
        self.stats["rollbacks"] += 1
        self.stats["resimulated"] += depth
        self.stats["max_rollback"] = max(self.stats["max_rollback"], depth)

    def _resimulate(self, start: int, now_ms: float) -> None:
        """Step frames start..frame again (the sim is at start - 1); a terminal step ends the run there."""
        for frame in range(start, self.frame + 1):
            self._simulate(frame, self.rows[frame]["t_client_ms"] if frame in self.rows else now_ms)
            if self.sim.over:
                for later in range(frame + 1, self.frame + 1):
                    self.rows.pop(later, None)
                    self.snapshots.pop(later, None)
                self.frame = frame
                return

    def _local_input(self, frame: int) -> None:
        inputs = self._episode_inputs(self.episode)[self.me]
        if frame in inputs:
            return
        action, source, event = self.sim.slots[self.me].take_action()
        inputs[frame] = (action, SOURCES.get(source, "h"))
        self.local_meta[frame] = input_columns(self.me, event)

    def tick(self, now_ms: float) -> str:
        """One tick: {send: [[peer, packet]], state, stalled, end}."""
        stalled = False
        end = None
        if self.playing and self.jump_to > self.episode:
            # The partner's page was reloaded and started the next episode: this one cannot be finished
            # (the pod records it as interrupted; like a crashed pod's, it is played again).
            self._event("interrupted", {"frame": self.frame, "next": self.jump_to})
            self.playing = False
            self.next_episode = self.jump_to
            end = "interrupted"
        elif self.playing:
            self._rollback(now_ms)
            if not self.sim.over:
                if self.frame + 1 - self.confirmed > self.max_prediction:
                    stalled = True
                    self.stats["stalls"] += 1
                elif not self.waited and self.lead(now_ms) > SYNC_LEAD:
                    self.waited = True  # at most every other tick: the lead shrinks gently
                    self.stats["waits"] += 1
                else:
                    self.waited = False
                    self._local_input(self.frame + 1 + self.delay)
                    self.frame += 1
                    self._simulate(self.frame, now_ms)
            end = self._confirm(now_ms)
            self.report_hooks()
        send = self._packets(now_ms)
        state = self.sim.frame(self.game, now_ms) if self.episode else None
        return json.dumps({"send": send, "state": state, "stalled": stalled, "end": end})

    def _views(self, now_ms: float) -> dict[str, float]:
        """Per peer: how many frames ahead of it this peer is, by its last frame heard plus the time since."""
        if not self.playing:
            return {}
        recent = sorted(self.rtt[-20:])
        one_way = recent[len(recent) // 2] / 2 if recent else 0.0
        frame_ms = 1000.0 / self.fps
        return {
            peer: self.frame - (frame + (now_ms - heard + one_way) / frame_ms)
            for peer, (episode, frame, heard) in self.remote_frame.items()
            if episode == self.episode
        }

    def lead(self, now_ms: float) -> float:
        """Frames this peer is ahead of the slowest peer: half of (my view - its view); 0 when unknown."""
        views = self._views(now_ms)
        leads = [(mine - self.remote_views.get(peer, -mine)) / 2 for peer, mine in views.items()]
        return max(leads, default=0.0)

    def _confirm(self, now_ms: float) -> str | None:
        """Record the rows of frames every input is known for; the episode's end once it is confirmed."""
        frontier = min([self.frame, *(self._contiguous(a) for a in self.humans)])
        self.confirmed = max(self.confirmed, frontier)
        end = None
        while self.emitted < self.confirmed:
            frame = self.emitted + 1
            self.emitted = frame
            row = self.rows[frame] | self.local_meta.get(frame, {})
            inputs = self._episode_inputs(self.episode)
            for agent in self.humans:  # a prediction that came true: the row names the input's own source
                row[f"source_{agent}"] = SOURCE_NAMES.get(inputs[agent][frame][1], "human")
            self.entries.append({"k": "step", "row": row})
            if frame % self.hash_every == 0:
                self._hash(frame)
            if row["terminated"] or row["truncated"]:
                end = "terminated" if row["terminated"] else "truncated"
                self._end(end, frame, now_ms)
                break
        for old in [f for f in self.snapshots if f < self.confirmed]:
            del self.snapshots[old]
        for old in [f for f in self.rows if f <= self.emitted]:
            self.rows.pop(old)
            self.used.pop(old, None)
        return end

    def _end(self, status: str, frame: int, now_ms: float) -> None:
        self.playing = False
        score = self.snapshots[frame]["score"] if frame in self.snapshots else self.sim.score
        self.end_entry(status, frame, score, now_ms, p2p=self.summary())

    def summary(self) -> dict[str, Any]:
        """What this peer measured in the episode: rollbacks, stalls, desyncs, transport, round trip."""
        rtt = sorted(self.rtt)
        return self.stats | {
            "agent": self.me,
            "input_delay": self.delay,
            "transport": dict(self.transport),
            "rtt_ms_median": round(statistics.median(rtt), 2) if rtt else None,
            "rtt_ms_p95": round(rtt[int(0.95 * (len(rtt) - 1))], 2) if rtt else None,
            "rtt_samples": len(rtt),
        }

    # hashes and resyncs --------------------------------------------------------------------

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
        self.expected_generation[other] += 1
        self._event("desync", {"peer": other, "frame": frame, "mine": mine, "theirs": theirs})
        at = self.confirmed
        self._outbox.append((other, {"t": "s", "e": self.episode, "f": at, "state": self.snapshots[at],
                                     "g": self.expected_generation[other]}))  # fmt: skip
        self.stats["resyncs"] += 1
        self._event("resync_sent", {"peer": other, "frame": at})

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

    def _event(self, kind: str, detail: dict[str, Any]) -> None:
        self.entries.append({"k": "event", "kind": kind, "detail": detail | {"e": self.episode, "agent": self.me}})

    def set_transport(self, peer: str, via: str, address: str | None = None) -> None:
        """The page's path to a peer changed: direct, turn (relayed by TURN) or relay (through the pod)."""
        if self.transport.get(peer) != via:
            self.transport[peer] = via
            self._event("transport", {"peer": peer, "via": via, "address": address})

    # packets -----------------------------------------------------------------------------

    def _packets(self, now_ms: float) -> list[list[str]]:
        packets: list[list[str]] = [[to, json.dumps(p)] for to, p in self._outbox]
        self._outbox.clear()
        if not self.episode:
            return packets
        mine = self._episode_inputs(self.episode)[self.me]
        newest = max(mine, default=0)
        ping = now_ms - self.last_ping >= PING_EVERY_MS
        if ping:
            self.last_ping = now_ms
        views = self._views(now_ms)
        for other in self.others:
            acked = self.acked[other] if self.acked_episode[other] == self.episode else 0
            if self.acked_episode[other] > self.episode:
                acked = newest
            first = max(1, min(acked + 1, newest - self.redundancy + 1), newest - MAX_INPUTS_PER_PACKET + 1)
            inputs = [list(mine[f]) for f in range(first, newest + 1) if f in mine]
            packet: dict[str, Any] = {"t": "i", "e": self.episode, "a": self.me, "s": first, "i": inputs,
                                      "k": self._contiguous(other) if self.episode else 0,
                                      "c": self.frame if self.playing else -1,
                                      "v": round(views.get(other, 0.0), 2)}  # fmt: skip
            if ping:
                packet["p"] = now_ms
            packets.append([other, json.dumps(packet)])
        return packets

    def receive(self, packet_json: str, now_ms: float) -> str:
        """A packet from a peer; returns packets to send back at once (the echo of a ping)."""
        try:
            packet = json.loads(packet_json)
            kind = packet.get("t")
        except (ValueError, AttributeError):
            return "[]"
        replies: list[list[str]] = []
        if kind == "i":
            self._on_inputs(packet, now_ms)
            if isinstance(packet.get("p"), int | float):
                replies.append([packet.get("a"), json.dumps({"t": "q", "x": packet["p"]})])
        elif kind == "q" and isinstance(packet.get("x"), int | float):
            sample = now_ms - packet["x"]
            if 0 <= sample < 60_000:
                self.rtt.append(sample)
                del self.rtt[:-RTT_SAMPLES]
        elif kind == "h" and self.me == self.authority and packet.get("e") == self.episode:
            sender, frame = packet.get("a"), packet.get("f")
            fresh = packet.get("g", 0) >= self.expected_generation.get(str(sender), 0)
            if sender in self.others and isinstance(frame, int) and fresh:
                self.peer_hashes[(sender, frame)] = str(packet["h"])
                self._compare(sender, frame)
        elif kind == "s" and self.me != self.authority and packet.get("e") == self.episode and self.playing:
            self._apply_state(packet, now_ms)
        return json.dumps(replies)

    def _on_inputs(self, packet: dict[str, Any], now_ms: float) -> None:
        sender, episode, first, inputs = packet.get("a"), packet.get("e"), packet.get("s"), packet.get("i")
        if sender not in self.others or not isinstance(episode, int) or not isinstance(first, int):
            return
        frame, view = packet.get("c"), packet.get("v")
        if isinstance(frame, int) and frame >= 0:
            self.remote_frame[sender] = (episode, frame, now_ms)
            if isinstance(view, int | float) and episode == self.episode:
                self.remote_views[sender] = float(view)
        elif frame is not None:  # the sender is between episodes
            self.remote_frame.pop(sender, None)
            self.remote_views.pop(sender, None)
        if not isinstance(inputs, list) or episode < self.episode:
            return
        if episode > self.episode and self.episode and self.playing:
            self.jump_to = max(self.jump_to, episode)
        elif episode > self.next_episode and not self.playing:
            self.next_episode = episode
        known = self._episode_inputs(episode)[sender]
        for offset, item in enumerate(inputs):
            frame = first + offset
            if frame in known or not isinstance(item, list) or len(item) != 2:
                continue
            action, source = item
            if not isinstance(action, int) or isinstance(action, bool):
                continue
            known[frame] = (action, str(source))
            if episode == self.episode and frame <= self.frame:
                used = self.used.get(frame, {}).get(sender)
                if used is not None and used != action:
                    self.rollback_from = frame if self.rollback_from is None else min(self.rollback_from, frame)
        ack = packet.get("k")
        if isinstance(ack, int) and episode >= self.acked_episode[sender]:
            if episode > self.acked_episode[sender] or ack > self.acked[sender]:
                self.acked[sender] = ack
            self.acked_episode[sender] = episode
