"""Who decides each agent's action in a p2p game, frame by frame: a participant, a shared policy, or a fallback.

Every peer steps every agent, so every peer must use the same action for every agent at every frame:

- A human seat's action is its participant's key, sent by that participant's browser.
- A policy seat, and a human seat whose fallback is a policy, is run by one browser only, the *owner*
  (the first human seat still in the game), and its action is sent to the others like a key press.
  No browser then depends on another's floating-point results: onnxruntime-web's outputs may differ
  in the last bits between machines, and a near tie between two logits (or a sampled action) would
  split the records. Like a key, the action acts `inputDelay` frames after it was chosen, and a late
  one is predicted and rolled back, so rollback never waits on inference.
- `random` and `noop` players need no network: every peer computes them alike, seeded by
  (seed, episode, step).

When a participant leaves for good (past reconnectGraceS with `onDropout: fallback`), their seat
switches to its fallback at a frame every peer agrees on: the owner takes the first frame it has no
input of theirs for (after merging the steps the pod saw), plays the fallback from there and tells
the others (the `x` field of its packets). If the one who left was the owner, the next human seat
becomes the owner of the policies from the frame it decides the same way.
"""

from __future__ import annotations

from typing import Any

Moment = tuple[int, int]
"""(episode, frame)."""


class Seats:
    """The seats of one p2p game as one peer sees them: who is still in, who owns the policies, what switched when."""

    def __init__(self, players: dict[str, dict[str, Any]], humans: list[str], me: str) -> None:
        self.players = players
        self.humans = humans
        self.me = me
        self.gone: set[str] = set()
        """Participants who left for good (their seat plays its fallback once its switch frame is settled)."""
        self.switch: dict[str, Moment] = {}
        """agent -> the moment from which its new producer acts (a fallback, or a new owner's policy)."""
        self.moving: dict[str, list[str]] = {}
        """A participant who left -> the agents whose producer changes with them (their seat, maybe the policies)."""
        self.settled: set[str] = set()
        """Participants who left whose agents' switch moments are decided."""

    @property
    def present(self) -> list[str]:
        """The human seats still played by their participants, in seat order."""
        return [h for h in self.humans if h not in self.gone]

    @property
    def owner(self) -> str:
        """The peer that runs the policies, settles takeovers and compares state hashes: the first seat still in."""
        present = self.present
        return present[0] if present else self.me

    @property
    def pending(self) -> list[str]:
        """Participants who left and whose switch moments are not settled yet."""
        return [d for d in sorted(self.moving) if d not in self.settled]

    def leave(self, agent: str) -> bool:
        """`agent`'s participant left for good; False when that was known (or is this peer's own seat)."""
        if agent not in self.humans or agent == self.me or agent in self.gone:
            return False
        was_owner = self.owner == agent
        policies = [a for a in self.players if a != agent and self._runs_a_policy(a)] if was_owner else []
        self.gone.add(agent)
        self.moving[agent] = [agent, *policies]
        return True

    def settle(self, departed: str, moments: dict[str, Moment]) -> None:
        """The switch moments of the agents that moved with `departed` (decided by the owner)."""
        for agent in self.moving.get(departed, []):
            if agent in moments:
                self.switch[agent] = moments[agent]
        self.settled.add(departed)

    def fallback(self, agent: str) -> dict[str, Any]:
        """The fallback player of a human seat (the pod refuses a takeover without one)."""
        return self.players[agent].get("fallback") or {"type": "noop", "action": 0}

    def switched(self, agent: str, at: Moment) -> bool:
        """Whether `agent`'s new producer acts at this moment."""
        moment = self.switch.get(agent)
        return moment is not None and at >= moment

    def actor(self, agent: str, at: Moment) -> tuple[dict[str, Any], str]:
        """The player spec that decides `agent`'s action at this moment, and the source its rows name."""
        if agent in self.humans:
            if self.switched(agent, at):
                return self.fallback(agent), "fallback"
            return self.players[agent], "human"
        spec = self.players[agent]
        return spec, spec["type"]

    def shared(self, agent: str, at: Moment) -> bool:
        """Whether the action comes from the inputs peers exchange (a human's key, or an owner's policy)."""
        spec, source = self.actor(agent, at)
        return source == "human" or spec["type"] == "policy"

    def mine(self, agent: str, at: Moment) -> bool:
        """Whether this peer produces `agent`'s shared input at this moment (its own seat, or as the owner)."""
        spec, source = self.actor(agent, at)
        if source == "human":
            return agent == self.me
        if spec["type"] != "policy" or self.owner != self.me:
            return False
        moved_with = [d for d, agents in self.moving.items() if agent in agents]
        if not moved_with:
            return True  # owned by the first seat from the start
        if any(d not in self.settled for d in moved_with):
            return False  # the moment this peer takes over is not decided yet
        return at >= self.switch[agent]

    def may_send(self, sender: str, agent: str) -> bool:
        """Whether inputs of `agent` from `sender` are taken: a present participant's only from themselves."""
        if agent == self.me or agent not in self.players:
            return False
        return agent == sender or agent not in self.present

    def _runs_a_policy(self, agent: str) -> bool:
        if agent in self.humans:
            return agent in self.switch and self.fallback(agent)["type"] == "policy"
        return self.players[agent]["type"] == "policy"
