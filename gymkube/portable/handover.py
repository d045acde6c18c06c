"""p2p seats that change hands: the policies a page runs for everyone, and seats handed to their fallback.

The half of a rollback `Peer` that feeds policies (onnxruntime-web, called by the page) and applies the
pod's and the owner's decisions about seats whose participant left; gymkube/portable/seats.py says who
decides what, and why.
"""

from __future__ import annotations

import json
import random
from functools import partial
from typing import TYPE_CHECKING, Any

from gymkube.portable.policies import PolicyRunner, choose, page_outputs, tensor
from gymkube.portable.seats import Moment, Seats
from gymkube.portable.sim import Sim

SOURCES = {"human": "h", "default": "d", "absent": "a", "policy": "p", "fallback": "f"}
"""An input's source, as packets carry it."""


class Handover:
    """Policies run here and seats handed over, for a rollback `Peer` (which provides the state it reads)."""

    me: str
    episode: int
    next_episode: int
    frame: int
    confirmed: int
    delay: int
    playing: bool
    sim: Sim
    seats: Seats
    gating: list[str]
    sending: set[str]
    remote_frame: dict[str, tuple[int, int, float]]
    remote_views: dict[str, float]

    if TYPE_CHECKING:  # provided by the Peer

        def _episode_inputs(self, episode: int) -> dict[str, dict[int, tuple[int, str]]]: ...

        def _known_through(self, agent: str, start: int) -> int: ...

        def _merge(self, episode: int, agent: str, first: int, items: list[Any]) -> None: ...

        def _roll_back_to(self, frame: int) -> None: ...

        def _event(self, kind: str, detail: dict[str, Any]) -> None: ...

    def _init_handover(self) -> None:
        self.fallback_runners: dict[str, PolicyRunner] = {}  # seat -> its policy fallback's adapter and timing

    def _runner(self, agent: str, spec: dict[str, Any], source: str) -> PolicyRunner:
        """The adapter of the policy that plays `agent` now: a policy player's own, or a seat's policy fallback's."""
        if source == "policy":
            return self.sim.policies[agent]
        if agent not in self.fallback_runners:
            key = (spec.get("observation") or {}).get("key")
            self.fallback_runners[agent] = PolicyRunner(agent, spec.get("adapter"), key, spec.get("actEvery", 1),
                                                        self.sim.config.get("searchDir"))  # fmt: skip
        return self.fallback_runners[agent]

    def reset_runners(self) -> None:
        """An episode starts: fallback policies' adapters forget their recurrent state (the Sim resets the others)."""
        for runner in self.fallback_runners.values():
            runner.reset()

    def policy_feeds(self) -> str:
        """[agent, model file, {input: [flat values, shape]}, episode, frame] for each policy this page runs, for
        the frame it chooses now (`inputDelay` frames ahead); the page answers `policy_result`."""
        if not self.playing or self.sim.over:
            return "[]"
        target = self.frame + 1 + self.delay
        at: Moment = (self.episode, target)
        inputs = self._episode_inputs(self.episode)
        feeds = []
        for agent in self.gating:
            if agent != self.me and self.seats.mine(agent, at) and target not in inputs[agent]:
                spec, source = self.seats.actor(agent, at)
                runner = self._runner(agent, spec, source)
                feed = {name: tensor(value) for name, value in runner.inputs(self.sim.observation).items()}
                feeds.append([agent, spec["file"], feed, self.episode, target])
        return json.dumps(feeds)

    def policy_result(self, requests_json: str, outputs_json: str) -> None:
        """The model outputs for the feeds asked for ({agent: [[output, flat values, shape], ...]}): each action
        is that agent's input from its frame for `actEvery` frames (and at any earlier frame that still has none,
        so a slow inference repeats the policy's previous choice)."""
        requests, raw = json.loads(requests_json), json.loads(outputs_json)
        for agent, episode, target in requests:
            entries = raw.get(agent) if isinstance(raw, dict) else None
            if episode != self.episode or not self.playing or not isinstance(entries, list):
                continue
            try:
                outputs = page_outputs({agent: entries})[agent]
            except (TypeError, ValueError, IndexError):
                continue  # not what onnxruntime-web makes: the frames stay predicted, asked for again
            spec, source = self.seats.actor(agent, (episode, target))
            runner = self._runner(agent, spec, source)
            rng = random.Random(f"{spec.get('seed')}:{episode}:{target}")
            pick = partial(choose, selection=spec.get("selection", "greedy"),
                           temperature=float(spec.get("temperature", 1.0)), rng=rng)  # fmt: skip
            action = runner.decide(outputs, pick)
            start = self._known_through(agent, self.confirmed) + 1
            last = min(target + runner.act_every - 1, self.sim.max_steps)
            frames = [f for f in range(start, last + 1) if self.seats.mine(agent, (episode, f))]
            if frames:
                self._merge(episode, agent, frames[0], [[action, SOURCES[source]]] * len(frames))
                self.sending.add(agent)

    def apply_takeovers(self, takeovers_json: str) -> None:
        """Seats the pod handed to their fallback: empty from the start (`frame` given) or left for good.

        `recent` holds the steps the pod saw of the open episode, so the owner knows the actions of the
        one who left that its own browser may have missed.
        """
        takeovers = json.loads(takeovers_json) if takeovers_json else {}
        for agent, info in (takeovers if isinstance(takeovers, dict) else {}).items():
            if not isinstance(info, dict) or not self.seats.leave(agent):
                continue
            self.remote_frame.pop(agent, None)
            self.remote_views.pop(agent, None)
            episode, frame = info.get("episode"), info.get("frame")
            if isinstance(episode, int) and isinstance(frame, int):
                self.seats.settle(agent, dict.fromkeys(self.seats.moving[agent], (episode, frame)))
            recent = info.get("recent")
            if isinstance(recent, dict) and isinstance(recent.get("e"), int) and isinstance(recent.get("first"), int):
                for moved, actions in (recent.get("actions") or {}).items():
                    if moved in self.seats.players and moved not in self.seats.present and isinstance(actions, list):
                        coded = [[a[0], SOURCES.get(a[1], "h")] for a in actions if isinstance(a, list) and len(a) == 2]
                        self._merge(recent["e"], moved, recent["first"], coded)

    def _settle(self) -> None:
        """As the owner: decide from which frame the agents of participants who left switch (see Seats)."""
        if self.seats.owner != self.me:
            return
        for departed in self.seats.pending:
            moments: dict[str, Moment] = {}
            for agent in self.seats.moving[departed]:
                if self.playing:
                    moments[agent] = (self.episode, self._known_through(agent, self.confirmed) + 1)
                else:
                    moments[agent] = (self.next_episode, 1)
            self.seats.settle(departed, moments)
            for agent, (episode, frame) in moments.items():
                self.sending.add(agent)
                self._event("takeover", {"seat": agent, "left": departed, "episode": episode, "frame": frame})
                if self.playing and episode == self.episode and frame <= self.frame:
                    self._roll_back_to(frame)

    def _on_handoffs(self, sender: str, handoffs: Any) -> None:
        """The owner's decisions about seats handed over (`x`): the same switch moments on every peer."""
        if not isinstance(handoffs, dict):
            return
        for departed, moments in handoffs.items():
            if departed in self.seats.settled or not isinstance(moments, dict):
                continue
            self.seats.leave(departed)
            if sender != self.seats.owner:
                continue
            parsed = {
                a: (m[0], m[1]) for a, m in moments.items()
                if isinstance(m, list) and len(m) == 2 and all(isinstance(v, int) for v in m)
            }  # fmt: skip
            self.remote_frame.pop(departed, None)
            self.remote_views.pop(departed, None)
            self.seats.settle(departed, parsed)
            for episode, frame in parsed.values():
                if self.playing and episode == self.episode and frame <= self.frame:
                    self._roll_back_to(frame)
