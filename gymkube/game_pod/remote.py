"""Games that run in the participants' browsers (`client` and `p2p` modes): the pod's side.

The browser steps the environment (gymkube.portable under Pyodide) and sends its records in
batches: `start`, `step`, `end` and `event` entries (see gymkube/portable/sim.py). The pod checks
every entry, adds the columns that say whose row it is, and writes rows in the same schema as server
mode. In `p2p` mode every peer sends the same confirmed steps: the pod keeps one row per step,
takes each player's input timing from that player's own browser (a peer's report carries only its
own input columns; the others' stay empty until they report), and flags any field the peers
disagree on (`peers_disagree`); a step only one peer reported (the other closed its tab) is written
after `MERGE_WAIT_S`, with `peers_reported` saying how many did.

A page cannot finish faster than real time: an episode end is refused (and the game does not move
on, so no completion code comes of it) when it claims no step, more steps than it sent, or more
steps in the game than `fps` allows since the pod started the game.

Signalling (`signal`) and the relay (`relay`) pass through the pod to the other members of the
group; the pod never reads them.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gymkube.game_pod import environments
from gymkube.game_pod.game import Status, hud_config, scene_columns
from gymkube.game_pod.payloads import MAX_ENTRIES, TURN_WAIT, EpisodeHooks, hook_cells, plain_json
from gymkube.game_pod.protocol import Event
from gymkube.portable.hooks import HOOK_PREFIX, MAX_HOOK_COLUMNS
from gymkube.portable.inputs import client_time, is_count
from gymkube.spec.gym import GymScene, HumanPlayer, NoopPlayer, PolicyPlayer, RandomPlayer

log = logging.getLogger(__name__)

MERGE_WAIT_S = 3.0
"""How long a step reported by some peers waits for the others before it is written as it is."""
MAX_INFO_COLUMNS = 64
MAX_TEXT = 2000
MAX_RESTARTS = 20
"""Episodes a page may cut short by starting the next one (reloads) in one game; more are refused."""
MAX_EVENTS_PER_GAME = 200
"""Events (desyncs, transports, ...) recorded per game; more are counted, not stored."""
SHARED = re.compile(r"^(action|source|reward)_[\w.-]+$|^(reward|terminated|truncated|obs_hash)$")
"""Step fields every peer computes alike: compared between peers."""
SOURCES = {"human", "gamepad", "default", "timeout", "absent", "policy", "random", "noop", "fallback"}
INPUT_COLUMNS = ("input_seq", "input_client_ms", "input_frame", "input_frame_ms")
"""A human seat's input columns: only that seat's own browser reports them."""
SAME_IN_EVERY_MODE = {"hook_error"}
"""Events a browser game records under the name server mode uses (others get the mode as a prefix: p2p_desync)."""
REAL_TIME_SLACK_S, REAL_TIME_TOLERANCE = 1.0, 0.05
"""How much faster than `steps / fps` a game's steps may seem to come (clocks, batching)."""
RECENT_STEPS = 256
"""Steps of the open episode whose actions a takeover hands to the browsers still playing (see portable/seats.py)."""
FALLBACK_SEED = 1_000_003
"""Added to a seat's seed for its fallback player, as in server mode (game.py)."""


@dataclass
class Seat:
    """A human seat of a browser game: whether its participant is connected."""

    present: bool = True


@dataclass
class PendingStep:
    """A p2p step some peers have reported."""

    row: dict[str, Any]
    reporters: set[str] = field(default_factory=set)
    since: float = field(default_factory=time.monotonic)
    disagree: set[str] = field(default_factory=set)


def _player_config(spec: Any, seed: int) -> dict[str, Any]:
    if isinstance(spec, HumanPlayer):
        fallback = spec.fallback
        return {"type": "human"} | ({"fallback": _player_config(fallback, seed + FALLBACK_SEED)} if fallback else {})
    if isinstance(spec, PolicyPlayer):
        return {"type": "policy", "file": spec.file, "selection": spec.selection, "temperature": spec.temperature,
                "observation": {"key": spec.observation.key}, "adapter": spec.adapter, "actEvery": spec.act_every,
                "seed": spec.seed if spec.seed is not None else seed}  # fmt: skip
    if isinstance(spec, RandomPlayer):
        return {"type": "random", "seed": spec.seed if spec.seed is not None else seed}
    assert isinstance(spec, NoopPlayer)
    return {"type": "noop", "action": spec.action}


def sim_config(
    scene: GymScene,
    game: str,
    seed: int,
    episode: int,
    rounds_done: int,
    record_observations: bool,
    takeovers: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """What the browser's `Sim` is built from (gymkube/portable/sim.py): the scene, the seed, where to start."""
    agents = list(scene.players)
    env = scene.environment
    return {
        "game": game,
        "mode": scene.mode,
        "environment": {
            "id": env.id,
            "entryPoint": env.entry_point,
            "kwargs": env.kwargs,
            "api": env.api,
            "agents": env.agents,
        },
        "packages": list(env.packages),
        "renderer": scene.rendering.renderer,
        "players": {a: _player_config(p, seed + agents.index(a) + 1) for a, p in scene.players.items()},
        "humans": scene.human_agents,
        "keys": scene.controls.keymap(),
        "captureKeys": scene.controls.capture_keys,
        "defaultAction": scene.controls.default_action,
        "inputMode": scene.controls.mode,
        "turnTimeoutS": scene.controls.turn_timeout_s,
        "hooks": scene.hooks,
        "seed": seed,
        "episode": episode,
        "roundsDone": rounds_done,
        "episodes": scene.episodes,
        "maxSteps": scene.max_steps,
        "fps": scene.fps,
        "countdownS": scene.countdown_s,
        "hud": hud_config(scene),
        "recordObservations": record_observations,
        "p2p": scene.p2p.model_dump(by_alias=True),
        "takeovers": takeovers or {},
    }


class BadEntry(ValueError):
    """An entry from a browser that the pod does not accept (the reason is logged and recorded)."""


class RemoteGame:
    """A gym scene played in the browser(s); the pod keeps its records and its place in the flow."""

    def __init__(
        self,
        scene: GymScene,
        base_row: dict[str, Any],
        record: Callable[[str, dict[str, Any]], None],
        first_episode: int = 1,
        rounds_done: int = 0,
        record_observations: bool = False,
        group: str | None = None,
        empty_seats: tuple[str, ...] = (),
        bundle_versions: dict[str, Any] | None = None,
        runtime: dict[str, Any] | None = None,
    ) -> None:
        if empty_seats and scene.mode != "p2p":
            raise ValueError(f"mode '{scene.mode}' cannot fill empty seats ({', '.join(empty_seats)})")
        self.id = base_row["game"]
        self.scene = scene
        self.base_row = base_row
        self.record = record
        self.record_observations = record_observations
        self.group = group
        self.base_seed = scene.seed if scene.seed is not None else random.SystemRandom().randrange(2**31)
        self.slots = {agent: Seat() for agent in scene.human_agents}
        self.solo = len(self.slots) == 1
        self.members: dict[str, Any] = {}
        self.listener: Callable[[str, Any], None] | None = None
        self.outbox: list[tuple[str, dict[str, Any]]] = []
        self.status = Status.PLAYING
        self.first_episode = first_episode
        self.next_episode = first_episode
        self.episode = first_episode - 1
        self.rounds_done = rounds_done
        self.episode_open = False
        self.step = 0  # steps written in the open episode
        self.steps_played = 0  # steps of every episode of this game, as first reported
        self.started = time.monotonic()
        self.t_start_ns = 0
        self.pending: dict[tuple[int, int], PendingStep] = {}
        self.ends: dict[int, dict[str, Any]] = {}  # episode -> end reports by agent (p2p: one per peer)
        self.ends_since: dict[int, float] = {}
        self.disagreements = 0
        self.restarts = 0
        self.events_recorded = 0
        self.rejected = 0
        self.runtime = runtime or {}
        self.base_versions = bundle_versions or {}
        self.versions = dict(self.base_versions)
        self.agents_longest_first = sorted(scene.players, key=len, reverse=True)
        self.authority = scene.human_agents[0]
        self.takeovers: dict[str, dict[str, Any]] = {
            agent: {"episode": first_episode, "frame": 1} for agent in empty_seats
        }  # seats handed to their fallback player (empty from the start, or left for good)
        self.recent: dict[int, dict[str, list[Any]]] = {}  # step -> agent -> [action, source], open episode
        self.left_by: dict[str, str] = {}  # seat -> the participant who left it
        for agent in empty_seats:
            self.slots[agent].present = False
            self.authority = next((a for a in scene.human_agents if a not in empty_seats), self.authority)

    # what the session and the pod use (as for Game) ------------------------------------

    @property
    def is_active(self) -> bool:
        """Not yet over."""
        return self.status not in (Status.DONE, Status.ABANDONED)

    @property
    def round(self) -> int:
        """The participant-facing episode number."""
        return min(self.rounds_done + 1, self.scene.episodes)

    def players_view(self) -> list[dict[str, Any]]:
        """Every agent as the browser shows it."""
        return [
            {
                "agent": a,
                "label": p.label,
                "color": p.color,
                "kind": "human" if a in self.slots and a not in self.takeovers else "ai",
            }
            for a, p in self.scene.players.items()
        ]

    def announce(self) -> None:
        """Queue the `play` event for every member: build the game in the browser (or carry on with it)."""
        config = sim_config(self.scene, self.id, self.base_seed, self.next_episode, self.rounds_done,
                            self.record_observations, self.takeovers)  # fmt: skip
        self.outbox.append(
            (
                Event.PLAY,
                {
                    "game": self.id,
                    "mode": self.scene.mode,
                    "config": config,
                    "players": self.players_view(),
                    "group": self.group,
                    "episode": self.next_episode,
                    "roundsDone": self.rounds_done,
                    "peers": sorted(self.members),
                    "runtime": self.runtime,
                },
            )  # fmt: skip
        )

    def personal(self, event: str, payload: dict[str, Any], agent: str) -> dict[str, Any]:
        """A message as one member receives it: their own agent."""
        if event == Event.PLAY:
            players = [p | {"you": p["agent"] == agent} for p in payload["players"]]
            return payload | {"agent": agent, "players": players}
        if event == Event.GAME:
            return payload | {"agent": agent}
        return payload

    def resume(self, agent: str | None = None) -> None:
        """A member's page (re)connected: tell it what to play (a reloaded page starts the next episode)."""
        self.announce()

    def pause(self, agent: str | None = None) -> None:
        """The only participant left: the browser holds the game; the grace timer decides."""

    def set_present(self, agent: str, present: bool) -> None:
        """A group member left for now, or came back (the peers keep their connection meanwhile)."""
        self.slots[agent].present = present
        if present:
            self.announce()

    def on_input(self, agent: str, *_: Any) -> None:
        """Keys go to the game in the browser; an `input` event for a browser game is ignored."""

    def take_over(self, agent: str) -> None:
        """A participant left for good: the browsers still playing hand their seat to its fallback player.

        They are told in the `play` message (its config's `takeovers`), with the actions of the open
        episode's last steps as this pod has them: the browser that decides the switch frame may have
        missed some that the one who left reported (see gymkube/portable/seats.py).
        """
        if self.scene.mode != "p2p":
            raise ValueError(f"mode '{self.scene.mode}' cannot hand a seat to a fallback player")
        first = min(self.recent, default=self.step + 1)
        recent = {"e": self.episode, "first": first, "actions": {
            a: [self.recent[step][a] for step in sorted(self.recent)] for a in self.scene.players
        }}  # fmt: skip
        self.takeovers[agent] = {"episode": self.episode if self.episode_open else self.next_episode,
                                 "frame": None, "recent": recent}  # fmt: skip
        self.slots[agent].present = False
        member = self.members.pop(agent, None)
        if member is not None:  # named in the episode rows, never sent to the other browsers
            self.left_by[agent] = member.progress.participant
            if f"participant_{agent}" in self.base_row:
                self.base_row = {**self.base_row, f"participant_{agent}": None}
        self.authority = next((a for a in self.scene.human_agents if a in self.members), self.authority)
        self.announce()

    def stop(self, status: str) -> None:
        """End the game now; an open episode is recorded with `status`."""
        if not self.is_active:
            return
        self.flush_pending(force=True)
        if self.episode_open:
            self.record("episodes", self.episode_row(status, self.step, None, {}))
            self.episode_open = False
            if status == "abandoned":
                self.rounds_done += 1
            self._tell("episode_end")
        self.status = Status.ABANDONED
        self.outbox.append((Event.GAME, self._game_message(Status.ABANDONED)))

    def fail(self) -> None:
        """The game broke: its players move on."""
        self._tell("failed")

    def drawable(self, episode: int, step: int) -> bool:
        """Whether a browser of this game may have drawn this frame (its records may not have arrived yet)."""
        return self.first_episode <= episode <= self.next_episode and step <= self.scene.max_steps

    def _game_message(self, status: str) -> dict[str, Any]:
        return {"game": self.id, "status": status, "episode": self.round, "episodes": self.scene.episodes,
                "countdown": 0.0, "agent": None, "keys": self.scene.controls.capture_keys,
                "input": self.scene.controls.mode, "players": self.players_view(), "group": self.group}  # fmt: skip

    def _tell(self, what: str) -> None:
        if self.listener is not None:
            self.listener(what, self)

    def episode_row(
        self, status: str, steps: int, score: float | None, peers: dict[str, Any], hooks: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The episodes-table row (as server mode's, plus what the browsers measured and what the hooks returned)."""
        players = {
            agent: spec.model_dump(by_alias=True, exclude_none=True)
            | ({"participant": self.members[agent].progress.participant} if agent in self.members else {})
            | ({"takeover": self._takeover_record(agent)} if agent in self.takeovers else {})
            for agent, spec in self.scene.players.items()
        }
        return {
            **self.base_row,
            "episode": self.episode,
            "status": status,
            "steps": steps,
            "score": score,
            "seed": self.base_seed + self.episode - 1,
            "t_start_ns": self.t_start_ns,
            "t_end_ns": time.time_ns(),
            **scene_columns(self.scene),
            "players": json.dumps(players, sort_keys=True),
            "versions": json.dumps(self.versions, sort_keys=True),
            "mode": self.scene.mode,
            "p2p": json.dumps(peers, sort_keys=True) if peers else None,
            "peer_disagreements": self.disagreements if self.scene.mode == "p2p" else None,
            **(hooks or {}),
        }

    # records from the browser ------------------------------------------------------------

    def receive(self, session: Any, agent: str, entries: Any) -> int:
        """Entries from `agent`'s browser, in order; returns how many were taken. A bad entry stops the batch."""
        if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
            raise BadEntry(f"records must be a list of at most {MAX_ENTRIES} entries")
        taken = 0
        for entry in entries:
            if not isinstance(entry, dict):
                raise BadEntry("an entry is not a map")
            kind = entry.get("k")
            if kind == "start":
                self._on_start(entry)
            elif kind == "step":
                self._on_step(session, agent, entry.get("row"))
            elif kind == "end":
                self._on_end(agent, entry)
            elif kind == "event":
                self._on_event(session, entry)
            else:
                raise BadEntry(f"unknown entry kind {str(kind)[:20]!r}")
            taken += 1
        self.flush_pending()
        return taken

    def _on_start(self, entry: dict[str, Any]) -> None:
        episode = entry.get("e")
        if not is_count(episode):
            raise BadEntry(f"episode {episode!r} cannot start")
        if episode < self.next_episode:
            return  # started already: the other peer's report, or a batch sent again after a reconnect
        if episode != self.next_episode:
            raise BadEntry(f"episode {episode} starts, expected {self.next_episode}")
        if self.episode_open:  # the page was reloaded mid-episode: that episode is over
            self.restarts += 1
            if self.restarts > MAX_RESTARTS:
                raise BadEntry(f"more than {MAX_RESTARTS} episodes were cut short in this game")
            self.flush_pending(force=True)
            self.record("episodes", self.episode_row("interrupted", self.step, None, {}))
        reported = plain_json(entry.get("v"), depth=1, items=16, chars=100)
        if isinstance(reported, dict):
            self.versions = self.base_versions | {k[:40]: v for k, v in reported.items() if isinstance(v, str | None)}
        self.episode = episode
        self.next_episode = episode + 1
        self.episode_open = True
        self.recent.clear()
        self.step = 0
        self.disagreements = 0
        self.t_start_ns = time.time_ns()
        self._tell("episode_start")

    def _split(self, key: str) -> tuple[str, str]:
        """'input_seq_left' -> ('input_seq', 'left') for the scene's agents; (key, '') otherwise."""
        for agent in self.agents_longest_first:
            if key.endswith(f"_{agent}"):
                return key[: -len(agent) - 1], agent
        return key, ""

    def _clean_row(self, session: Any, row: Any) -> dict[str, Any]:
        if not isinstance(row, dict) or len(row) > 32 + MAX_INFO_COLUMNS + MAX_HOOK_COLUMNS + 8 * len(
            self.scene.players
        ):
            raise BadEntry("a step row must be a map of columns")
        agents = set(self.scene.players)
        clean: dict[str, Any] = {}
        hooks: dict[str, Any] = {}
        info = 0
        for key, value in row.items():
            if not isinstance(key, str):
                raise BadEntry("column names must be text")
            if key.startswith(HOOK_PREFIX) and self.scene.hooks:
                hooks[key] = value
                continue
            name, agent = self._split(key)
            if key in ("reward", "t_client_ms") or (
                name in ("reward", "input_client_ms", "input_frame_ms") and agent in agents
            ):
                clean[key] = client_time(value) if value is not None else None
            elif key in ("terminated", "truncated") and isinstance(value, bool):
                clean[key] = value
            elif key == "obs_hash" and isinstance(value, str) and len(value) <= 64:
                clean[key] = value
            elif name == "action" and agent in agents and is_count(value):
                clean[key] = value
            elif name == "source" and agent in agents and value in SOURCES:
                clean[key] = value
            elif name in ("input_seq", "input_frame") and agent in agents and (value is None or is_count(value)):
                clean[key] = value
            elif key == "obs" and self.record_observations:
                clean[key] = value[: MAX_TEXT * 50] if isinstance(value, str) else client_time(value)
            elif key.startswith("info_") and len(key) <= 100 and info < MAX_INFO_COLUMNS:
                info += 1
                clean[key] = value[:MAX_TEXT] if isinstance(value, str) else client_time(value)
            elif key == "turn_wait_ms" and self.scene.controls.mode == "turn":
                clean[key] = self._checked(TURN_WAIT.validate_python, value, key)
            elif key in ("episode", "step"):
                continue
            else:
                raise BadEntry(f"column {key[:40]!r} is not one a step records")
        clean |= self._checked(hook_cells, hooks, "hook columns")
        for agent in self.scene.players:
            if f"action_{agent}" not in clean:
                raise BadEntry(f"the step has no action for {agent}")
        offset = session.progress.clock_offset_ms
        t_client = clean.get("t_client_ms")
        clean["t_tick_ns"] = int((t_client + offset) * 1e6) if t_client is not None and offset is not None else None
        clean["t_recv_ns"] = time.time_ns()
        return clean

    @staticmethod
    def _checked(check: Callable[[Any], Any], value: Any, what: str) -> Any:
        try:
            return check(value)
        except ValueError as exc:  # pydantic's ValidationError is one
            raise BadEntry(f"{what}: {str(exc).splitlines()[0][:200]}") from None

    def _on_step(self, session: Any, agent: str, row: Any) -> None:
        if not isinstance(row, dict):
            raise BadEntry("a step row must be a map of columns")
        if is_count(row.get("episode")) and row["episode"] < self.next_episode - (1 if self.episode_open else 0):
            return  # of an episode already over: a late peer, or a batch sent again after a reconnect
        if not self.episode_open:
            raise BadEntry("a step arrived outside an episode")
        episode, step = row.get("episode"), row.get("step")
        if episode != self.episode or not isinstance(step, int) or not is_count(step) or step < 1:
            raise BadEntry(f"step {step!r} of episode {episode!r} does not belong to episode {self.episode}")
        if step > self.scene.max_steps:
            raise BadEntry(f"step {step} is beyond the scene's maxSteps ({self.scene.max_steps})")
        clean = self._clean_row(session, row)
        key = (self.episode, step)
        if step <= self.step:
            return  # written already (a peer that reported late, or a batch sent again after a reconnect)
        pending = self.pending.get(key)
        if pending is None:
            expected = self.step + 1 + len([k for k in self.pending if k[0] == episode])
            if step != expected:
                raise BadEntry(f"step {step} of episode {episode} arrived, expected {expected}")
            others = {f"{column}_{a}": None for a in self.slots if a != agent for column in INPUT_COLUMNS}
            row_out = {**self.base_row, "episode": episode, "step": step, "t_planned_ns": None} | clean | others
            pending = self.pending[key] = PendingStep(row_out)
            self.steps_played += 1
        else:
            own = {k: v for k, v in clean.items() if self._split(k) in {(c, agent) for c in INPUT_COLUMNS}}
            differ = {c for c, v in clean.items() if SHARED.match(c) and pending.row.get(c) != v}
            pending.disagree |= differ
            if differ and agent == self.authority:  # the first seat's browser is the reference (it resyncs the others)
                own |= {c: clean[c] for c in differ}
            pending.row |= own
        pending.reporters.add(agent)

    def flush_pending(self, force: bool = False) -> None:
        """Write, in order, the steps every present peer reported (or that waited long enough)."""
        present = {a for a, seat in self.slots.items() if seat.present and a in self.members} or set(self.slots)
        now = time.monotonic()
        while self.pending:
            key = min(self.pending)
            pending = self.pending[key]
            if not (force or present <= pending.reporters or now - pending.since >= MERGE_WAIT_S):
                break
            del self.pending[key]
            row = pending.row
            if self.scene.mode == "p2p":
                row["peers_reported"] = len(pending.reporters)
                row["peers_disagree"] = ",".join(sorted(pending.disagree)) or None
                if pending.disagree:
                    self.disagreements += 1
            self.step = key[1]
            self._remember(key[1], row)
            self.record("steps", row)
        ends = self.ends.get(self.episode)
        if ends is None or self.pending:
            return
        if force or present <= set(ends) or now - self.ends_since[self.episode] >= MERGE_WAIT_S:
            del self.ends[self.episode]
            self.ends_since.pop(self.episode, None)
            self._finish_episode(ends)

    def _remember(self, step: int, row: dict[str, Any]) -> None:
        """Keep a written step's actions (the last RECENT_STEPS of the open episode) for a takeover."""
        self.recent[step] = {a: [row.get(f"action_{a}"), row.get(f"source_{a}")] for a in self.scene.players}
        for old in [s for s in self.recent if s <= step - RECENT_STEPS]:
            del self.recent[old]

    def _on_end(self, agent: str, entry: dict[str, Any]) -> None:
        episode, status, steps = entry.get("e"), entry.get("status"), entry.get("steps")
        if episode != self.episode or not self.episode_open:
            if is_count(episode) and episode < self.next_episode:
                return  # a late peer's report of an episode already ended
            raise BadEntry(f"episode {episode!r} ended, but episode {self.episode} is open")
        if status not in ("terminated", "truncated") or not is_count(steps):
            raise BadEntry("an episode end needs a status (terminated | truncated) and its steps")
        self._check_end(steps)
        score = client_time(entry.get("score"))
        peers = plain_json(entry.get("p2p"), depth=3, items=32, chars=200)
        hooks = None
        if "hook" in entry and self.scene.hooks:
            report_of_hooks = self._checked(EpisodeHooks.model_validate, entry["hook"], "the episode's hook columns")
            hooks = self._checked(lambda h: h.columns(), report_of_hooks, "the episode's hook columns")
        report = {"status": status, "steps": steps, "score": score, "p2p": peers if isinstance(peers, dict) else None,
                  "hooks": hooks}  # fmt: skip
        self.ends.setdefault(episode, {})[agent] = report
        self.ends_since.setdefault(episode, time.monotonic())

    def _check_end(self, steps: int) -> None:
        """Refuse an episode end no honest page sends: no step, steps it did not send, or faster than real time."""
        sent = max([self.step, *(k[1] for k in self.pending if k[0] == self.episode)])
        if steps < 1:
            raise BadEntry("an episode ends after at least one step")
        if steps > sent or (self.solo and steps != sent):
            raise BadEntry(f"the episode ends after {steps} steps, but {sent} were sent")
        fps, elapsed = self.scene.fps, time.monotonic() - self.started
        least = self.steps_played / fps * (1 - REAL_TIME_TOLERANCE) - REAL_TIME_SLACK_S
        if elapsed < least:
            raise BadEntry(
                f"{self.steps_played} steps at {fps} fps take {self.steps_played / fps:.1f} s; "
                f"this game started {elapsed:.1f} s ago"
            )

    def _finish_episode(self, reports: dict[str, dict[str, Any]]) -> None:
        first = next(iter(reports.values()))
        peers = {agent: r["p2p"] for agent, r in reports.items() if r.get("p2p")}
        if any(r["steps"] != first["steps"] or r["status"] != first["status"] for r in reports.values()):
            self.disagreements += 1
            peers["_ends"] = {agent: [r["status"], r["steps"]] for agent, r in reports.items()}
        self.record("episodes", self.episode_row(first["status"], self.step, first["score"], peers, first["hooks"]))
        self.episode_open = False
        self.rounds_done += 1
        self._tell("episode_end")
        if self.rounds_done >= self.scene.episodes:
            self.status = Status.DONE
            self.outbox.append((Event.GAME, self._game_message(Status.DONE)))
            self._tell("done")

    def _on_event(self, session: Any, entry: dict[str, Any]) -> None:
        kind, detail = entry.get("kind"), entry.get("detail")
        if not isinstance(kind, str) or not re.fullmatch(r"[a-z_]{1,32}", kind):
            raise BadEntry("an event needs a kind")
        self.events_recorded += 1
        if self.events_recorded > MAX_EVENTS_PER_GAME:
            return
        detail = plain_json(detail, depth=3, items=32, chars=200)
        detail = detail if isinstance(detail, dict) else {}
        if kind == "takeover" and session.agent == self.authority:
            self._settled(detail)
        name = kind if kind in SAME_IN_EVERY_MODE else f"{self.scene.mode}_{kind}"
        session.pod.event(session, name, {"game": self.id, "group": self.group} | detail)

    def _settled(self, detail: dict[str, Any]) -> None:
        """The deciding browser says from which frame a handed-over seat plays its fallback (for the episode rows)."""
        seat, episode, frame = detail.get("seat"), detail.get("episode"), detail.get("frame")
        takeover = self.takeovers.get(seat) if isinstance(seat, str) else None
        if takeover is not None and takeover.get("frame") is None and is_count(episode) and is_count(frame):
            self.takeovers[str(seat)] = {"episode": episode, "frame": frame}  # the steps it needed are not re-sent

    def _takeover_record(self, agent: str) -> dict[str, Any]:
        """Where a seat's fallback took over (the step before its first action) and its seed, as server mode's."""
        takeover, spec = self.takeovers[agent], self.scene.players[agent]
        fallback = spec.fallback if isinstance(spec, HumanPlayer) else None
        own_seed = getattr(fallback, "seed", None)
        seed = own_seed if own_seed is not None else self.base_seed + list(self.scene.players).index(agent) + 1
        frame = takeover.get("frame")
        record = {"episode": takeover["episode"], "step": None if frame is None else frame - 1,
                  "seed": seed + (0 if own_seed is not None else FALLBACK_SEED)}  # fmt: skip
        return record | ({"left": self.left_by[agent]} if agent in self.left_by else {})


def browser_versions(scene: GymScene) -> dict[str, Any]:
    """The versions a browser episode starts from (the browser adds its Python's and its packages')."""
    entry = scene.environment.entry_point
    return {"gymkube": environments.package_version("gymkube"), "runtime": "pyodide",
            "env_package": entry.partition(":")[0].split(".")[0] if entry else None}  # fmt: skip
