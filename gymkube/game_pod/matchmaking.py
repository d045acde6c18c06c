"""Who plays with whom: the groups a waiting room forms (`group.matchmaker`), and the rules every group keeps.

A waiting room asks its matchmaker for groups among the participants who may be grouped now:

- `fifo`: the earliest arrival first, with the earliest arrivals who fit the rules;
- `latency`: the earliest arrival first, with those who make the group's round trips smallest (in p2p
  the largest measured browser-to-browser round trip in the group; otherwise the spread of the members'
  round trips to the pod, so that partners play with the same lag);
- `module:Class` from the experiment's files: the researcher's own (run by
  gymkube/game_pod/custom_matchmaker.py).

Whoever proposes a group, the spec's rules hold (`Rules.fit`): `maxPeerRttMs` for every pair,
`partners: new` (never the same partner twice in this study) and `sameCondition` (one URL parameter,
or the stager's assignment). A pair whose round trip is still being measured is neither in nor out:
the built-in matchmakers then keep its members for the earlier arrival, so that the earliest arrival is
matched first whenever a match exists (fairness), and the wait for a measurement is bounded by the probe's
timeout.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gymkube.spec.gym import GroupSpec

SEARCH_LIMIT = 20_000
"""Candidate groups a built-in matchmaker looks at for one arrival (a room of hundreds stays cheap)."""


class Fit(enum.Enum):
    """Whether two participants may play together under the spec's rules."""

    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"  # their round trip is still being measured


@dataclass(frozen=True)
class Candidate:
    """A participant the waiting room may group now: what any matchmaker may base its choice on."""

    participant: str
    arrived_ns: int
    url_params: Mapping[str, str] = field(default_factory=dict)
    assignment: tuple[str, ...] = ()
    pod_rtt_ms: float | None = None
    previous_groups: tuple[Mapping[str, Any], ...] = ()

    @property
    def previous_partners(self) -> frozenset[str]:
        """Everyone this participant played with in an earlier group of this study."""
        return frozenset(
            member
            for group in self.previous_groups
            for member in (group.get("members") or {}).values()
            if member != self.participant
        )


PeerRtts = Callable[[str, str], "float | None | bool"]
"""The measured round trip of a pair in ms; None while it is being measured; False when there is no path."""


class Rules:
    """The spec's grouping rules for one scene, checked for every pair of a proposed group."""

    def __init__(self, spec: GroupSpec, peer_rtt: PeerRtts | None = None) -> None:
        self.spec = spec
        self.peer_rtt = peer_rtt

    def fit(self, a: Candidate, b: Candidate) -> Fit:
        """Whether `a` and `b` may be in one group."""
        spec = self.spec
        if spec.partners == "new" and (b.participant in a.previous_partners or a.participant in b.previous_partners):
            return Fit.NO
        same = spec.same_condition
        if same is not None and same.param is not None and a.url_params.get(same.param) != b.url_params.get(same.param):
            return Fit.NO
        if same is not None and same.assignment and a.assignment != b.assignment:
            return Fit.NO
        if spec.max_peer_rtt_ms is not None:
            rtt = self.rtt(a, b)
            if rtt is None:
                return Fit.UNKNOWN
            if rtt is False or rtt >= spec.max_peer_rtt_ms:
                return Fit.NO
        return Fit.YES

    def rtt(self, a: Candidate, b: Candidate) -> float | None | bool:
        """The measured browser-to-browser round trip (see PeerRtts); None when nothing measures it."""
        return None if self.peer_rtt is None else self.peer_rtt(a.participant, b.participant)

    def allows(self, group: Sequence[Candidate]) -> bool:
        """Every pair of the group fits."""
        return all(self.fit(a, b) is Fit.YES for i, a in enumerate(group) for b in group[i + 1 :])

    def cost(self, group: Sequence[Candidate]) -> float:
        """What `latency` makes small: the largest peer round trip (p2p), else the spread of pod round trips."""
        if self.peer_rtt is not None:
            trips = [self.rtt(a, b) for i, a in enumerate(group) for b in group[i + 1 :]]
            return max((float(t) for t in trips if isinstance(t, float | int) and not isinstance(t, bool)), default=0.0)
        known = [c.pod_rtt_ms for c in group if c.pod_rtt_ms is not None]
        if len(known) < len(group):
            return float("inf")
        return max(known) - min(known)


def _search(
    first: Candidate, pool: Sequence[Candidate], size: int, rules: Rules, cheapest: bool
) -> list[Candidate] | None:
    """A group of `size` with `first` from `pool` (in arrival order): the earliest such, or the cheapest found."""
    best: list[Candidate] | None = None
    best_cost = float("inf")
    looked = 0

    def extend(group: list[Candidate], start: int) -> bool:
        nonlocal best, best_cost, looked
        if len(group) == size:
            cost = rules.cost(group) if cheapest else 0.0
            if best is None or cost < best_cost:
                best, best_cost = list(group), cost
            return not cheapest  # the first found is the earliest
        for index in range(start, len(pool)):
            looked += 1
            if looked > SEARCH_LIMIT:
                return True
            candidate = pool[index]
            if all(rules.fit(candidate, member) is Fit.YES for member in group) and extend(
                [*group, candidate], index + 1
            ):
                return True
        return False

    extend([first], 0)
    return best


def propose(waiting: Sequence[Candidate], size: int, rules: Rules, cheapest: bool = False) -> list[list[Candidate]]:
    """The built-in matchmakers: `fifo` (`cheapest=False`) and `latency`; groups in the order they are formed.

    Arrivals are served in order; one for whom no group fits now keeps the participants whose round trip
    with them is still being measured, so a later arrival cannot take them first.
    """
    order = sorted(waiting, key=lambda c: c.arrived_ns)
    taken: set[str] = set()
    groups: list[list[Candidate]] = []
    for first in order:
        if first.participant in taken:
            continue
        pool = [c for c in order if c.participant not in taken and c is not first]
        group = _search(first, pool, size, rules, cheapest)
        if group is not None:
            groups.append(group)
            taken.update(c.participant for c in group)
            continue
        taken.add(first.participant)
        taken.update(c.participant for c in pool if rules.fit(first, c) is Fit.UNKNOWN)
    return groups


def fill_partly(first: Candidate, others: Sequence[Candidate], size: int, rules: Rules) -> list[Candidate]:
    """At the longest wait (`onWaitTimeout: fallback`): `first` with the earliest others who fit, up to `size`."""
    group = [first]
    for candidate in sorted(others, key=lambda c: c.arrived_ns):
        if len(group) < size and all(rules.fit(candidate, member) is Fit.YES for member in group):
            group.append(candidate)
    return group


def describe(candidate: Candidate, now_ns: int, peer_rtts: Mapping[str, float]) -> dict[str, Any]:
    """A waiting participant as a researcher's matchmaker gets it (plain JSON)."""
    return {
        "participant": candidate.participant,
        "arrived_ms": candidate.arrived_ns / 1e6,
        "waited_s": round((now_ns - candidate.arrived_ns) / 1e9, 3),
        "url_params": dict(candidate.url_params),
        "assignment": list(candidate.assignment),
        "pod_rtt_ms": candidate.pod_rtt_ms,
        "peer_rtt_ms": dict(peer_rtts),
        "previous_groups": [dict(g) for g in candidate.previous_groups],
    }


class BadGroups(ValueError):
    """What a researcher's matchmaker returned is not a list of groups of the waiting participants."""


Groups = list[dict[str, str] | list[str]]
"""Groups as a researcher's matchmaker gives them: participant ids, or {seat: participant} maps."""


def read_groups(value: Any, waiting: Sequence[str], size: int, seats: Sequence[str]) -> Groups:
    """A researcher's matchmaker's answer, checked: groups of `size` distinct waiting participants, each once,
    as a list (seats by the spec's `roles`) or a {seat: participant} map naming every human seat."""
    if not isinstance(value, list) or len(value) > len(waiting) // size:
        raise BadGroups(f"expected a list of at most {len(waiting) // size} groups")
    known, used = set(waiting), set()
    groups: Groups = []
    for group in value:
        members = list(group.values()) if isinstance(group, dict) else group
        if isinstance(group, dict) and sorted(group) != sorted(seats):
            raise BadGroups(f"a group given by seat must name exactly the seats {sorted(seats)}")
        if not isinstance(members, list) or len(members) != size or len(set(map(str, members))) != size:
            raise BadGroups(f"each group has {size} different participants")
        if any(not isinstance(m, str) or m not in known or m in used for m in members):
            raise BadGroups("a group names someone who is not waiting, or someone twice")
        used.update(members)
        groups.append(dict(group) if isinstance(group, dict) else list(members))
    return groups
