"""Who plays with whom: the groups a waiting room forms (`group.matchmaker`), and the rules every group keeps.

A waiting room asks its matchmaker for groups among the participants who may be grouped now:

- `fifo`: the earliest arrival first, with the earliest arrivals who fit the rules;
- `latency`: the earliest arrival first, with those whose round trips to the pod are closest to theirs
  (the smallest spread in the group), so that partners play with the same lag;
- `module:Class` from the experiment's files: the researcher's own (run by
  gymkube/game_pod/custom_matchmaker.py).

Whoever proposes a group, the spec's rules hold for every pair (`Rules.fit`): `partners: new` (never
the same partner twice in this study) and `sameCondition` (one URL parameter, or the stager's
assignment). The built-in matchmakers serve arrivals in order, so the earliest arrival is matched
first whenever a match for them exists (fairness).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gymkube.spec.gym import GroupSpec

SEARCH_LIMIT = 20_000
"""Candidate groups a built-in matchmaker looks at for one arrival (a room of hundreds stays cheap)."""


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


class Rules:
    """The spec's grouping rules for one scene, checked for every pair of a proposed group."""

    def __init__(self, spec: GroupSpec) -> None:
        self.spec = spec

    def fit(self, a: Candidate, b: Candidate) -> bool:
        """Whether `a` and `b` may be in one group."""
        spec = self.spec
        if spec.partners == "new" and (b.participant in a.previous_partners or a.participant in b.previous_partners):
            return False
        same = spec.same_condition
        if same is not None and same.param is not None and a.url_params.get(same.param) != b.url_params.get(same.param):
            return False
        return not (same is not None and same.assignment and a.assignment != b.assignment)

    def allows(self, group: Sequence[Candidate]) -> bool:
        """Every pair of the group fits."""
        return all(self.fit(a, b) for i, a in enumerate(group) for b in group[i + 1 :])

    def cost(self, group: Sequence[Candidate]) -> float:
        """What `latency` makes small: the spread of the members' round trips to the pod (unknown: infinite)."""
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
            if all(rules.fit(candidate, member) for member in group) and extend([*group, candidate], index + 1):
                return True
        return False

    extend([first], 0)
    return best


def propose(waiting: Sequence[Candidate], size: int, rules: Rules, cheapest: bool = False) -> list[list[Candidate]]:
    """The built-in matchmakers: `fifo` (`cheapest=False`) and `latency`; groups in the order they are formed.

    Arrivals are served in order: a later arrival is grouped only after every earlier one for whom a
    group exists among those still waiting.
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
    return groups


def fill_partly(first: Candidate, others: Sequence[Candidate], size: int, rules: Rules) -> list[Candidate]:
    """At the longest wait (`onWaitTimeout: fallback`): `first` with the earliest others who fit, up to `size`."""
    group = [first]
    for candidate in sorted(others, key=lambda c: c.arrived_ns):
        if len(group) < size and all(rules.fit(candidate, member) for member in group):
            group.append(candidate)
    return group


def describe(candidate: Candidate, now_ns: int) -> dict[str, Any]:
    """A waiting participant as a researcher's matchmaker gets it (plain JSON)."""
    return {
        "participant": candidate.participant,
        "arrived_ms": candidate.arrived_ns / 1e6,
        "waited_s": round((now_ns - candidate.arrived_ns) / 1e9, 3),
        "url_params": dict(candidate.url_params),
        "assignment": list(candidate.assignment),
        "pod_rtt_ms": candidate.pod_rtt_ms,
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
