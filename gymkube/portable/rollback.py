"""`p2p` mode: each participant's browser steps its own copy of the group's game, kept in step by rollback.

Every peer runs the same seeded environment. Each tick a peer reads its participant's keys for the
frame `inputDelay` frames ahead and sends them to the others over an unreliable, unordered channel;
every packet repeats all inputs the receiver has not acknowledged (at least the last `redundancy`), so
a lost packet costs nothing. A frame whose remote inputs have not arrived is simulated with a
prediction (the remote player's last known input). When the real input differs, the peer goes back
to the snapshot before that frame and re-simulates up to now (a rollback). A peer never runs more
than `maxPrediction` frames ahead of the inputs it has; past that it waits (a stall).

Policies are inputs too: the first human seat still in the game runs them (onnxruntime-web, called by
the page) and sends their actions like its own keys; `random` and `noop` players are computed by every
peer alike. A seat whose participant left for good plays its fallback from a frame the peers agree on
(gymkube/portable/seats.py says who decides what, and why).

Peers start their episodes at slightly different moments (their Python loads at its own pace), so one
can run a few frames ahead of the other for a whole game: it then sees the other's inputs late and rolls
back all the time, while the other shows its moves late. As in GGPO, every input packet says the
sender's frame and how far ahead the sender thinks it is; half the difference of the two views (so an
error in the one-way delay cancels) is the lead, and a peer that leads by more than `SYNC_LEAD`
frames waits a tick now and then (`waits` in the records) until the two are level.

A frame is *confirmed* once every agent's action for it is known; its row is then final, and only
confirmed rows are recorded, so every peer records the same rows. State hashes and resyncs are in
gymkube/portable/resync.py, policies and handed-over seats in gymkube/portable/handover.py. Desyncs,
resyncs, rollbacks, stalls, takeovers, the transport and the peer round trip are in the records.

Packets are JSON text: `i` inputs (per agent: `in`, with acknowledgements `k` and handed-over seats
`x`), `h` a state hash, `s` a state for a resync, `p`/`q` a ping and its echo. The page moves them
over a DataChannel or, when none comes up, through the pod.
"""

from __future__ import annotations

import json
import statistics
from typing import Any

from gymkube.portable.handover import SOURCES, Handover
from gymkube.portable.inputs import input_columns
from gymkube.portable.resync import Resync
from gymkube.portable.seats import Seats
from gymkube.portable.sim import PageGame

MAX_INPUTS_PER_PACKET = 64
SYNC_LEAD = 1.0
"""Frames ahead of a peer (half the difference of the two peers' views) beyond which a peer waits a tick."""
PING_EVERY_MS = 500.0
RTT_SAMPLES = 400
SOURCE_NAMES = {v: k for k, v in SOURCES.items()}
Input = tuple[int, str]
"""An agent's action at a frame and its source's code."""


class Peer(Handover, Resync, PageGame):
    """One participant's side of a `p2p` game. The page calls `key`, `start`, `tick`, `receive` and `take`,
    and, when a policy runs here, `policy_feeds` and `policy_result`."""

    def __init__(self, config_json: str, me: str) -> None:
        super().__init__(config_json)
        config = self.config
        self.me = me
        self.humans = list(self.sim.humans)
        self.seats = Seats(self.sim.players, self.humans, me)
        self.gating = [a for a, p in self.sim.players.items() if a in self.humans or p["type"] == "policy"]
        settings = config["p2p"]
        self.delay: int = settings["inputDelay"]
        self.max_prediction: int = settings["maxPrediction"]
        self.redundancy: int = settings["redundancy"]
        self.hash_every: int = settings["hashEvery"]
        self.default = config["defaultAction"]
        self.inputs: dict[int, dict[str, dict[int, Input]]] = {}  # episode -> agent -> frame -> input
        self.acked: dict[tuple[str, str], tuple[int, int]] = {}  # (peer, agent) -> (episode, frames it holds)
        self.heard: dict[str, set[str]] = {}  # peer -> agents whose inputs it sends here
        self.sending: set[str] = {me}  # agents whose inputs this peer sends (its seat, policies it runs, handovers)
        self.rtt: list[float] = []
        self.fps: int = config["fps"]
        self.remote_frame: dict[str, tuple[int, int, float]] = {}  # peer -> (episode, its frame, when heard)
        self.remote_views: dict[str, float] = {}  # peer -> how far ahead of me it thinks it is
        self.met: dict[str, int] = {}  # peer -> the latest episode it was heard playing
        self.waited = False
        self.jump_to = 0  # a peer started a later episode (its page was reloaded): this one is over
        self.last_ping = -1e18
        self.transport: dict[str, str] = {}
        self._init_resync()
        self._init_handover()
        self._outbox: list[tuple[str, dict[str, Any]]] = []  # packets made between ticks (hashes, states)
        self.stats = self._new_stats()
        self.playing = False  # an episode is open (started and not yet confirmed over)
        self.episode = 0
        self._clear_episode()
        self.apply_takeovers(json.dumps(config.get("takeovers") or {}))

    @property
    def others(self) -> list[str]:
        """The other participants still in the game."""
        return [h for h in self.seats.present if h != self.me]

    @property
    def authority(self) -> str:
        """The peer whose state wins a disagreement: the owner (see Seats)."""
        return self.seats.owner

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

    def _episode_inputs(self, episode: int) -> dict[str, dict[int, Input]]:
        if episode not in self.inputs:
            self.inputs[episode] = {agent: {} for agent in self.sim.players}
        return self.inputs[episode]

    def key(self, key: str, down: bool, seq: int, client_ms: float, frame: int | None, frame_ms: float | None) -> None:
        """A key of this participant went down or up."""
        if self.playing:
            self.sim.slots[self.me].on_input(key, down, seq, client_ms, frame, frame_ms)

    def _known_through(self, agent: str, start: int) -> int:
        """The last frame of this episode up to which `agent`'s action is known, from `start` on without a gap."""
        known = self._episode_inputs(self.episode)[agent]
        frame = start
        horizon = max(self.frame, start) + self.max_prediction + self.delay + MAX_INPUTS_PER_PACKET
        while frame < horizon and (frame + 1 in known or not self.seats.shared(agent, (self.episode, frame + 1))):
            frame += 1
        return frame

    def _predict(self, agent: str, frame: int) -> int:
        known = self._episode_inputs(self.episode)[agent]
        for earlier in range(frame - 1, 0, -1):
            if earlier in known:
                return known[earlier][0]
        return int(self.default) if self.default != "previous" else 0

    def _actions(self, frame: int) -> dict[str, tuple[int, str]]:
        """Every agent's action at `frame`, predicted where not known yet (predictions are kept, to spot wrong ones)."""
        inputs = self._episode_inputs(self.episode)
        actions: dict[str, tuple[int, str]] = {}
        used: dict[str, int] = {}
        for agent in self.sim.players:
            at = (self.episode, frame)
            spec, source = self.seats.actor(agent, at)
            if not self.seats.shared(agent, at):
                actions[agent] = (self.sim.ai_action(agent, spec), source)
                continue
            got = inputs[agent].get(frame)
            if got is None:
                used[agent] = self._predict(agent, frame)
                actions[agent] = (used[agent], "predicted")
            else:
                actions[agent] = (got[0], SOURCE_NAMES.get(got[1], "human"))
        self.used[frame] = used
        return actions

    def _merge(self, episode: int, agent: str, first: int, items: list[Any]) -> None:
        """Inputs of `agent` from `first` on (from a peer or the pod); a known frame keeps its input."""
        if episode < self.episode or not 1 <= first <= self.sim.max_steps:
            return
        known = self._episode_inputs(episode)[agent]
        for offset, item in enumerate(items[:MAX_INPUTS_PER_PACKET]):
            frame = first + offset
            if frame in known or not isinstance(item, list) or len(item) != 2:
                continue
            action, source = item
            if not isinstance(action, int) or isinstance(action, bool) or not 0 <= action < 2**31:
                continue
            known[frame] = (action, str(source)[:1])
            if episode == self.episode and frame <= self.frame:
                used = self.used.get(frame, {}).get(agent)
                if used is not None and used != action:
                    self._roll_back_to(frame)

    def _roll_back_to(self, frame: int) -> None:
        self.rollback_from = frame if self.rollback_from is None else min(self.rollback_from, frame)

    # episodes ----------------------------------------------------------------------------

    def start(self, now_ms: float) -> str:
        """Begin the next episode; its first frame. The first `inputDelay` frames take the default action."""
        self._settle()  # a seat handed over between episodes switches from this episode's first frame
        self.episode = self.next_episode
        self._clear_episode()
        seed = self.sim.reset(self.episode, self.rounds_done + 1)
        self.reset_runners()
        self.snapshots[0] = self.sim.save()
        inputs = self._episode_inputs(self.episode)
        default = int(self.default) if self.default != "previous" else 0
        for frame in range(1, self.delay + 1):
            for agent in self.gating:
                if self.seats.shared(agent, (self.episode, frame)):
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
            self._settle()
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
        if any(self.met.get(other, 0) < self.episode for other in self.others):
            return None  # nothing is final before every peer plays the episode (its first frames need no input)
        frontier = min([self.frame, *(self._known_through(a, self.confirmed) for a in self.gating)])
        self.confirmed = max(self.confirmed, frontier)
        end = None
        inputs = self._episode_inputs(self.episode)
        while self.emitted < self.confirmed:
            frame = self.emitted + 1
            self.emitted = frame
            row = self.rows[frame] | self.local_meta.get(frame, {})
            for agent in self.gating:  # a prediction that came true: the row names the input's own source
                if self.seats.shared(agent, (self.episode, frame)):
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
            "switched": {agent: list(moment) for agent, moment in self.seats.switch.items()},
        }

    def _event(self, kind: str, detail: dict[str, Any]) -> None:
        self.entries.append({"k": "event", "kind": kind, "detail": detail | {"e": self.episode, "agent": self.me}})

    def set_transport(self, peer: str, via: str, address: str | None = None) -> None:
        """The page's path to a peer changed: direct, turn (relayed by TURN) or relay (through the pod)."""
        if self.transport.get(peer) != via:
            self.transport[peer] = via
            self._event("transport", {"peer": peer, "via": via, "address": address})

    def note(self, kind: str, peer: str, detail_json: str = "{}") -> None:
        """Something the page did about a path to a peer (an ICE restart, a new connection), for the records."""
        detail = json.loads(detail_json) if detail_json else {}
        self._event(kind, {"peer": peer} | (detail if isinstance(detail, dict) else {}))

    # packets -----------------------------------------------------------------------------

    def _acked(self, other: str, agent: str, newest: int) -> int:
        episode, frames = self.acked.get((other, agent), (0, 0))
        if episode > self.episode:
            return newest
        return frames if episode == self.episode else 0

    def _inputs_for(self, other: str) -> dict[str, list[Any]]:
        """Per agent this peer sends: [first frame, [[action, source], ...]], from what `other` has not acknowledged."""
        inputs = self._episode_inputs(self.episode)
        out: dict[str, list[Any]] = {}
        for agent in sorted(self.sending):
            known = inputs.get(agent)
            if not known:
                continue
            newest = max(known)
            acked = self._acked(other, agent, newest)
            first = max(1, min(acked + 1, newest - self.redundancy + 1), newest - MAX_INPUTS_PER_PACKET + 1)
            run: list[list[Any]] = []
            while first + len(run) in known and first + len(run) <= newest:
                run.append(list(known[first + len(run)]))
            if run:
                out[agent] = [first, run]
        return out

    def _packets(self, now_ms: float) -> list[list[str]]:
        packets: list[list[str]] = [[to, json.dumps(p)] for to, p in self._outbox]
        self._outbox.clear()
        if not self.episode:
            return packets
        ping = now_ms - self.last_ping >= PING_EVERY_MS
        if ping:
            self.last_ping = now_ms
        views = self._views(now_ms)
        handoffs = {
            departed: {a: list(self.seats.switch[a]) for a in self.seats.moving[departed] if a in self.seats.switch}
            for departed in self.seats.settled
        }
        for other in self.others:
            packet: dict[str, Any] = {
                "t": "i", "e": self.episode, "a": self.me, "in": self._inputs_for(other),
                "k": {agent: self._known_through(agent, self.confirmed) for agent in sorted(self.heard.get(other, ()))},
                "c": self.frame if self.playing else -1, "v": round(views.get(other, 0.0), 2),
            }  # fmt: skip
            if handoffs and self.me == self.seats.owner:
                packet["x"] = handoffs
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
            self._on_hash(packet)
        elif kind == "s" and self.me != self.authority and packet.get("e") == self.episode and self.playing:
            self._apply_state(packet, now_ms)
        return json.dumps(replies)

    def _on_inputs(self, packet: dict[str, Any], now_ms: float) -> None:
        sender, episode = packet.get("a"), packet.get("e")
        if not isinstance(sender, str) or sender not in self.others or not isinstance(episode, int):
            return
        frame, view = packet.get("c"), packet.get("v")
        if isinstance(frame, int) and frame >= 0:
            self.remote_frame[sender] = (episode, frame, now_ms)
            self.met[sender] = max(self.met.get(sender, 0), episode)
            if isinstance(view, int | float) and episode == self.episode:
                self.remote_views[sender] = float(view)
        elif frame is not None:  # the sender is between episodes
            self.remote_frame.pop(sender, None)
            self.remote_views.pop(sender, None)
        self._on_handoffs(sender, packet.get("x"))
        blocks = packet.get("in")
        if not isinstance(blocks, dict) or episode < self.episode:
            return
        if episode > self.episode and self.episode and self.playing:
            self.jump_to = max(self.jump_to, episode)
        elif episode > self.next_episode and not self.playing:
            self.next_episode = episode
        for agent, block in blocks.items():
            if not self.seats.may_send(sender, agent) or not isinstance(block, list) or len(block) != 2:
                continue
            first, items = block
            if isinstance(first, int) and not isinstance(first, bool) and isinstance(items, list):
                self.heard.setdefault(sender, set()).add(agent)
                self._merge(episode, agent, first, items)
        acks = packet.get("k")
        for agent, ack in (acks if isinstance(acks, dict) else {}).items():
            if agent in self.sending and isinstance(ack, int):
                old_episode, old = self.acked.get((sender, agent), (0, 0))
                if episode > old_episode or (episode == old_episode and ack > old):
                    self.acked[(sender, agent)] = (episode, ack)
