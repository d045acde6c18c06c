"""Peer probes in a p2p waiting room: which pairs are measured, what a pair's round trip is, what is recorded."""

from __future__ import annotations

from typing import Any

import pytest

from gymkube.game_pod import probes as probes_module
from gymkube.game_pod.matchmaking import Candidate, Fit, Rules, propose
from gymkube.game_pod.probes import MAX_PROBES_PER_WAIT, PROBES_AT_ONCE, PeerProbes, Report
from gymkube.spec.gym import GroupSpec


class Room:
    """A stand-in for the waiting room's messages to pages and its events."""

    def __init__(self, limit_ms: int | None = 100) -> None:
        self.told: list[tuple[str, str, dict[str, Any]]] = []
        self.recorded: list[tuple[str, str, dict[str, Any]]] = []
        self.probes = PeerProbes(limit_ms, self.tell, self.record)

    def tell(self, participant: str, event: str, payload: dict[str, Any]) -> None:
        self.told.append((participant, event, payload))

    def record(self, participant: str, kind: str, detail: dict[str, Any]) -> None:
        self.recorded.append((participant, kind, detail))

    def started(self) -> list[tuple[str, str, str]]:
        """(offerer, answerer, probe id) of every probe asked for, in order."""
        offers = [(p, m["id"]) for p, _, m in self.told if m.get("role") == "offer"]
        answers = {m["id"]: p for p, _, m in self.told if m.get("role") == "answer"}
        return [(offerer, answers[probe], probe) for offerer, probe in offers]


def everyone(_a: str, _b: str) -> bool:
    return True


def test_pairs_are_probed_earliest_arrivals_first_and_a_page_runs_two_at_a_time():
    room = Room()
    room.probes.plan(["a", "b", "c", "d"], everyone)
    pairs = [(o, a) for o, a, _ in room.started()]
    assert pairs == [("a", "b"), ("a", "c"), ("b", "c")]  # a, b and c are at their limit of 2: d comes next
    assert PROBES_AT_ONCE == 2
    room.probes.plan(["a", "b", "c", "d"], everyone)  # nothing new while those are in flight
    assert len(room.started()) == 3
    for offerer, answerer, probe in room.started():
        room.probes.report(offerer, probe, Report(10.0, 5, "direct"))
        room.probes.report(answerer, probe, Report(10.0, 5, "direct"))
    room.probes.plan(["a", "b", "c", "d"], everyone)
    assert [(o, a) for o, a, _ in room.started()[3:]] == [("a", "d"), ("b", "d")]
    (_, message) = {(p, e) for p, e, _ in room.told}.pop()
    assert message == "probe" and all(
        set(m) >= {"id", "role", "samples", "everyMs", "timeoutMs"} for *_, m in room.told
    )


def test_a_pairs_round_trip_is_the_larger_of_the_two_sides_and_both_record_it():
    room = Room(limit_ms=100)
    room.probes.plan(["a", "b"], everyone)
    ((_, _, probe),) = room.started()
    assert room.probes.rtt("a", "b") is None  # being measured
    room.probes.report("a", probe, Report(12.0, 5, "direct"))
    room.probes.report("a", probe, Report(1.0, 5, "direct"))  # a second report of one side is ignored
    room.probes.report("mallory", probe, Report(1.0, 5, "direct"))  # not a side of this probe
    room.probes.report("b", probe, Report(140.0, 5, "turn"))
    assert room.probes.rtt("b", "a") == 140.0 and room.probes.measured("a") == {"b": 140.0}
    assert [(p, k) for p, k, _ in room.recorded] == [("a", "peer_probe"), ("b", "peer_probe")]
    a_side = room.recorded[0][2]
    assert a_side | {"probe": None} == {
        "probe": None, "peer": "b", "transport": "turn", "rtt_ms": 140.0, "outcome": "over_limit", "samples": 5,
        "limit_ms": 100, "reported_ms": {"self": 12.0, "peer": 140.0},
    }  # fmt: skip


def test_a_page_that_reports_too_fast_cannot_make_a_slow_pair_look_fast():
    room = Room(limit_ms=100)
    room.probes.plan(["liar", "honest"], everyone)
    ((_, _, probe),) = room.started()
    room.probes.report("liar", probe, Report(0.0, 50, "direct"))
    room.probes.report("honest", probe, Report(300.0, 5, "direct"))
    assert room.probes.rtt("liar", "honest") == 300.0


def test_a_probe_without_a_path_or_a_report_by_its_deadline_means_no_path(monkeypatch):
    room = Room()
    room.probes.plan(["a", "b", "c"], everyone)
    (ab, ac) = room.started()[:2]
    room.probes.report("a", ab[2], Report(None, 0, None))
    room.probes.report("b", ab[2], Report(None, 0, None))
    assert room.probes.rtt("a", "b") is False
    room.probes.report("a", ac[2], Report(20.0, 5, "direct"))  # c never answers
    now = probes_module.time.monotonic()
    monkeypatch.setattr(probes_module.time, "monotonic", lambda: now + probes_module.PROBE_TIMEOUT_S + 1)
    room.probes.plan([], everyone)
    assert room.probes.rtt("a", "c") is False
    assert ("c", "probe", {"id": ac[2], "stop": True}) in room.told  # the silent side's page stops it
    outcomes = {(p, d["peer"]): d["outcome"] for p, _, d in room.recorded}
    assert outcomes == {("a", "b"): "no_path", ("b", "a"): "no_path", ("a", "c"): "no_report", ("c", "a"): "no_report",
                        ("b", "c"): "no_report", ("c", "b"): "no_report"}  # fmt: skip


def test_a_participant_who_leaves_stops_their_probes_and_others_are_never_told_who_they_probe():
    room = Room()
    room.probes.plan(["a", "b"], everyone)
    ((_, _, probe),) = room.started()
    assert room.probes.signal_target("a", probe) == "b" and room.probes.signal_target("b", probe) == "a"
    assert room.probes.signal_target("mallory", probe) is None and room.probes.signal_target("a", "guess") is None
    assert all("b" not in m.values() for p, _, m in room.told if p == "a")
    room.probes.forget("a")
    assert ("b", "probe", {"id": probe, "stop": True}) in room.told and room.probes.live == {}
    assert room.probes.rtt("a", "b") is None  # nothing measured: a stopped probe is no verdict


def test_pairs_the_rules_refuse_are_not_probed_and_a_participant_takes_part_in_a_bounded_number():
    room = Room()
    room.probes.plan(["a", "b", "c"], lambda x, y: {x, y} != {"a", "b"})
    assert [(o, a) for o, a, _ in room.started()] == [("a", "c"), ("b", "c")]
    room = Room()
    crowd = [f"p{i:03}" for i in range(200)]
    for _ in range(200):  # every probe answered at once: new ones start at each check
        room.probes.plan(crowd, everyone)
        for offerer, answerer, probe in room.started():
            room.probes.report(offerer, probe, Report(10.0, 5, "direct"))
            room.probes.report(answerer, probe, Report(10.0, 5, "direct"))
    taken = [p for offerer, answerer, _ in room.started() for p in (offerer, answerer)]
    assert max(taken.count(p) for p in crowd) <= MAX_PROBES_PER_WAIT


def candidates(*names: str) -> list[Candidate]:
    return [Candidate(name, arrived_ns=i) for i, name in enumerate(names)]


@pytest.mark.parametrize(
    ("rtts", "groups"),
    [
        ({("a", "b"): 50.0, ("a", "c"): 20.0, ("b", "c"): 30.0}, [["a", "b"]]),  # fifo: the earliest who fit
        ({("a", "b"): 500.0, ("a", "c"): 20.0, ("b", "c"): 30.0}, [["a", "c"]]),
        ({("a", "b"): 500.0, ("a", "c"): 500.0, ("b", "c"): 30.0}, [["b", "c"]]),  # no match for a: b and c play
        ({("a", "b"): False, ("a", "c"): None, ("b", "c"): 30.0}, []),  # a's pair with c is being measured: held
        ({("a", "b"): 90.0, ("a", "c"): None, ("b", "c"): 30.0}, [["a", "b"]]),
    ],
)
def test_only_pairs_under_the_limit_are_grouped_and_the_earliest_arrival_keeps_pairs_being_measured(rtts, groups):
    def peer_rtt(x: str, y: str) -> Any:
        return rtts.get((x, y), rtts.get((y, x)))

    rules = Rules(GroupSpec.model_validate({"maxPeerRttMs": 100}), peer_rtt)
    assert [[c.participant for c in g] for g in propose(candidates("a", "b", "c"), 2, rules)] == groups
    assert rules.fit(*candidates("a", "c")) is {None: Fit.UNKNOWN, 20.0: Fit.YES}.get(rtts[("a", "c")], Fit.NO)


def test_latency_in_p2p_takes_the_partner_with_the_smallest_peer_round_trip():
    rtts = {("a", "b"): 80.0, ("a", "c"): 20.0, ("b", "c"): 30.0}
    rules = Rules(GroupSpec.model_validate({}), lambda x, y: rtts.get((x, y), rtts.get((y, x))))
    assert [[c.participant for c in g] for g in propose(candidates("a", "b", "c"), 2, rules, cheapest=True)] == [
        ["a", "c"]
    ]
