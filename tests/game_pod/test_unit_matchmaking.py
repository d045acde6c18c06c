"""Matchmakers: fifo, latency, the spec's rules (never the same partner twice, same condition), answers checked."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gymkube.game_pod.custom_matchmaker import CustomMatchmaker
from gymkube.game_pod.matchmaking import BadGroups, Candidate, Rules, describe, fill_partly, propose, read_groups
from gymkube.spec.gym import GroupSpec


def waiting(*names: str, rtts: dict[str, float] | None = None, **fields: dict[str, Any]) -> list[Candidate]:
    """Candidates arriving in the order named, one millisecond apart; `fields` by field name, then participant."""
    return [
        Candidate(
            name,
            arrived_ns=index * 1_000_000,
            pod_rtt_ms=(rtts or {}).get(name),
            **{field: values[name] for field, values in fields.items() if name in values},
        )
        for index, name in enumerate(names)
    ]


def names(groups: list[list[Candidate]]) -> list[list[str]]:
    return [[c.participant for c in group] for group in groups]


def rules(**group: Any) -> Rules:
    return Rules(GroupSpec.model_validate(group))


def played_with(*partners: str) -> tuple[dict[str, Any], ...]:
    return tuple({"scene": f"earlier{i}", "members": {"blue": "me", "red": p}} for i, p in enumerate(partners))


def test_fifo_groups_arrivals_in_order_and_leaves_the_latest_waiting():
    assert names(propose(waiting("a", "b", "c", "d", "e"), 2, rules())) == [["a", "b"], ["c", "d"]]
    assert names(propose(waiting("a", "b", "c", "d", "e"), 3, rules())) == [["a", "b", "c"]]
    assert propose(waiting("a"), 2, rules()) == []


def test_fifo_orders_by_arrival_not_by_the_order_it_was_given():
    shuffled = list(reversed(waiting("a", "b", "c", "d")))
    assert names(propose(shuffled, 2, rules())) == [["a", "b"], ["c", "d"]]


def test_never_the_same_partner_twice_pairs_the_earliest_arrival_with_someone_new():
    previous = {"a": played_with("b"), "c": played_with("d")}
    groups = propose(waiting("a", "b", "c", "d", previous_groups=previous), 2, rules(partners="new"))
    assert names(groups) == [["a", "c"], ["b", "d"]]
    # the rule holds from either side: b never played with a in b's own records, a did
    groups = propose(waiting("a", "b", previous_groups={"a": played_with("b")}), 2, rules(partners="new"))
    assert groups == []
    assert names(propose(waiting("a", "b", previous_groups=previous), 2, rules(partners="any"))) == [["a", "b"]]


def test_same_condition_groups_only_within_a_url_parameter_or_an_assignment():
    condition = {"a": {"COND": "x"}, "b": {"COND": "y"}, "c": {"COND": "x"}, "d": {"COND": "y"}, "e": {}}
    same_param = rules(sameCondition={"param": "COND"})
    groups = propose(waiting("a", "b", "c", "d", "e", url_params=condition), 2, same_param)
    assert names(groups) == [["a", "c"], ["b", "d"]]
    flows = {"a": ("x", "g1"), "b": ("y", "g1"), "c": ("y", "g1"), "d": ("x", "g1")}
    groups = propose(waiting("a", "b", "c", "d", assignment=flows), 2, rules(sameCondition={"assignment": True}))
    assert names(groups) == [["a", "d"], ["b", "c"]]


def test_the_earliest_arrival_is_matched_first_when_a_match_for_them_exists():
    # b and c could pair with each other, but a (earliest) fits only c: a gets c, b keeps waiting
    condition = {"a": {"COND": "x"}, "b": {"COND": "y"}, "c": {"COND": "x"}}
    groups = propose(waiting("a", "b", "c", url_params=condition), 2, rules(sameCondition={"param": "COND"}))
    assert names(groups) == [["a", "c"]]
    # with no match for a, later arrivals are not held up by a
    condition = {"a": {"COND": "x"}, "b": {"COND": "y"}, "c": {"COND": "y"}}
    groups = propose(waiting("a", "b", "c", url_params=condition), 2, rules(sameCondition={"param": "COND"}))
    assert names(groups) == [["b", "c"]]


def test_latency_pairs_the_earliest_arrival_with_the_closest_round_trip():
    rtts = {"a": 40.0, "b": 300.0, "c": 60.0, "d": 280.0}
    assert names(propose(waiting("a", "b", "c", "d", rtts=rtts), 2, rules(), cheapest=True)) == [["a", "c"], ["b", "d"]]
    assert names(propose(waiting("a", "b", "c", "d", rtts=rtts), 2, rules())) == [["a", "b"], ["c", "d"]]
    # a round trip not measured yet counts as the worst: measured partners are preferred
    rtts = {"a": 40.0, "c": 45.0}
    assert names(propose(waiting("a", "b", "c", rtts=rtts), 2, rules(), cheapest=True)) == [["a", "c"]]


def test_a_large_room_stays_cheap_and_fair():
    room = waiting(*(f"p{i:03}" for i in range(300)), rtts={f"p{i:03}": float(i % 7) for i in range(300)})
    groups = propose(room, 3, rules(), cheapest=True)
    assert len(groups) == 100 and groups[0][0].participant == "p000"
    assert sorted(c.participant for g in groups for c in g) == [c.participant for c in room]


def test_at_the_longest_wait_the_group_takes_the_earliest_who_fit():
    condition = {"a": {"COND": "x"}, "b": {"COND": "y"}, "c": {"COND": "x"}, "d": {"COND": "x"}}
    first, *others = waiting("a", "b", "c", "d", url_params=condition)
    group = fill_partly(first, list(reversed(others)), 3, rules(sameCondition={"param": "COND"}))
    assert [c.participant for c in group] == ["a", "c", "d"]


def test_a_researcher_sees_what_the_waiting_room_knows_as_plain_values():
    earlier = {"a": played_with("z")}
    (candidate,) = waiting("a", rtts={"a": 42.5}, url_params={"a": {"COND": "x"}}, previous_groups=earlier)
    seen = describe(candidate, now_ns=2_500_000_000, peer_rtts={"b": 31.0})
    assert seen == {
        "participant": "a", "arrived_ms": 0.0, "waited_s": 2.5, "url_params": {"COND": "x"}, "assignment": [],
        "pod_rtt_ms": 42.5, "peer_rtt_ms": {"b": 31.0},
        "previous_groups": [{"scene": "earlier0", "members": {"blue": "me", "red": "z"}}],
    }  # fmt: skip


@pytest.mark.parametrize(
    "answer",
    [
        "ab",
        [["a", "b"], ["c", "d"], ["e", "f"]],  # more groups than the room holds
        [["a", "a"]],
        [["a", "b", "c"]],
        [["a", "zz"]],
        [["a", "b"], ["b", "c"]],
        [{"blue": "a"}],
        [{"blue": "a", "green": "b"}],
        [["a", 1]],
        [None],
    ],
)
def test_a_matchmakers_answer_that_is_not_groups_of_waiting_participants_is_refused(answer):
    with pytest.raises(BadGroups):
        read_groups(answer, ["a", "b", "c", "d"], 2, ["blue", "red"])


def test_a_matchmakers_groups_by_list_or_by_seat_are_taken():
    answer = [["d", "a"], {"red": "b", "blue": "c"}]
    assert read_groups(answer, ["a", "b", "c", "d"], 2, ["blue", "red"]) == [["d", "a"], {"red": "b", "blue": "c"}]
    assert read_groups([], ["a", "b"], 2, ["blue", "red"]) == []


MATCHMAKERS = '''
import time

class Reverse:
    """Pairs the latest arrivals first (and prints, which must not mix with its answers)."""
    def match(self, waiting, size, seats):
        print("asked")
        ids = [w["participant"] for w in reversed(waiting)]
        return [dict(zip(seats, ids[i:i + size])) for i in range(0, len(ids) - size + 1, size)]

class Counting:
    """Keeps state between calls (one instance lives as long as the pod)."""
    def __init__(self):
        self.calls = 0
    def match(self, waiting, size, seats):
        self.calls += 1
        return [["call", self.calls]]

class Raising:
    def match(self, waiting, size, seats):
        raise RuntimeError("no luck")

class Sleeping:
    def match(self, waiting, size, seats):
        time.sleep(30)

class Huge:
    def match(self, waiting, size, seats):
        return ["x" * 2_000_000]

class NotJson:
    def match(self, waiting, size, seats):
        return [{1, 2}]

class Exiting:
    def match(self, waiting, size, seats):
        import os
        os._exit(3)

class BrokenInit:
    def __init__(self):
        raise ValueError("bad config")
    def match(self, waiting, size, seats):
        return []
'''


def ask(folder: Path, entry_point: str, calls: int = 1) -> tuple[list[Any], list[tuple[str, str]]]:
    """Ask a researcher's class `calls` times in its own process: its answers, and the failures reported."""
    reported: list[tuple[str, str]] = []

    async def main() -> list[Any]:
        matchmaker = CustomMatchmaker(entry_point, folder, lambda what, detail: reported.append((what, detail)))
        room = [describe(c, 0, {}) for c in waiting("a", "b", "c", "d")]
        try:
            return [await matchmaker.groups(room, 2, ["blue", "red"]) for _ in range(calls)]
        finally:
            await matchmaker.close()

    return asyncio.run(main()), reported


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    (tmp_path / "matchmakers.py").write_text(MATCHMAKERS)
    return tmp_path


def test_a_researchers_class_answers_from_its_own_process_and_keeps_its_state(bundle):
    answers, reported = ask(bundle, "matchmakers:Reverse", calls=2)
    assert answers == [[{"blue": "d", "red": "c"}, {"blue": "b", "red": "a"}]] * 2 and reported == []
    answers, _ = ask(bundle, "matchmakers:Counting", calls=3)
    assert answers == [[["call", 1]], [["call", 2]], [["call", 3]]]


@pytest.mark.parametrize(
    ("entry_point", "why"),
    [
        ("matchmakers:Raising", "RuntimeError: no luck"),
        ("matchmakers:Huge", "answered more than"),
        ("matchmakers:NotJson", "not plain JSON"),
        ("matchmakers:Exiting", "its process ended"),
        ("matchmakers:BrokenInit", "ValueError: bad config"),
        ("matchmakers:Missing", "AttributeError"),
        ("nowhere:Class", "ModuleNotFoundError"),
    ],
)
def test_a_failing_class_is_reported_and_the_room_falls_back(bundle, entry_point, why):
    answers, reported = ask(bundle, entry_point)
    assert answers == [None]
    ((what, detail),) = reported
    assert entry_point in what and "fifo" in what and why in detail


def test_a_class_that_takes_too_long_is_stopped_and_not_restarted_at_once(bundle, monkeypatch):
    monkeypatch.setattr("gymkube.game_pod.custom_matchmaker.START_DEADLINE_S", 3.0)
    answers, reported = ask(bundle, "matchmakers:Sleeping", calls=2)
    assert answers == [None, None]
    ((what, detail),) = reported  # the second call found it stopped and did not start it again so soon
    assert "took longer than 3 s" in detail
