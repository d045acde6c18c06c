"""The stager: each participant's flow of scenes, with blocks ordered and repeated."""

from __future__ import annotations

from collections import Counter
from itertools import permutations

import pytest
import yaml

from gymkube.game_pod.stager import build_flow, scene_id_of
from gymkube.spec import ExperimentSpec, load_experiments


def page(scene_id: str) -> dict[str, object]:
    return {"type": "static", "id": scene_id, "html": f"<p>{scene_id}</p>"}


def spec_with(*items: dict[str, object]) -> ExperimentSpec:
    document = {
        "apiVersion": "gymkube.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": "flow"},
        "spec": {"scenes": [page("intro"), *items, {"type": "end"}]},
    }
    (experiment,) = load_experiments(yaml.safe_dump(document))
    return experiment.spec


def block(order: str, ids: list[str], repeat: int = 1) -> dict[str, object]:
    return {"type": "block", "id": "main", "order": order, "repeat": repeat, "scenes": [page(i) for i in ids]}


def inner(flow: list[str]) -> tuple[str, ...]:
    """The block's part of a flow (between the intro and the end)."""
    assert flow[0] == "intro" and flow[-1] == "end"
    return tuple(flow[1:-1])


def test_scenes_outside_blocks_and_fixed_blocks_keep_the_manifest_order():
    spec = spec_with(page("a"), block("fixed", ["b", "c", "d"]), page("e"))
    assert build_flow(spec, "p1", 0) == ["intro", "a", "b", "c", "d", "e", "end"]
    assert build_flow(spec, "p2", 7) == build_flow(spec, "p1", 0)


def test_a_random_block_gives_a_participant_the_same_order_every_time():
    spec = spec_with(block("random", ["a", "b", "c", "d"]))
    first = build_flow(spec, "participant-1", 0)
    assert build_flow(spec, "participant-1", 0) == first
    assert build_flow(spec, "participant-1", 13) == first  # a resumed session keeps its order
    assert sorted(inner(first)) == ["a", "b", "c", "d"]


def test_a_random_block_orders_scenes_differently_across_participants():
    spec = spec_with(block("random", ["a", "b", "c", "d"]))
    orders = Counter(inner(build_flow(spec, f"participant-{i}", i)) for i in range(50))
    assert all(sorted(order) == ["a", "b", "c", "d"] for order in orders)
    assert len(orders) > 1
    assert max(orders.values()) < 50


def test_counterbalancing_three_scenes_gives_each_of_the_six_orders_equally_often():
    spec = spec_with(block("counterbalance", ["a", "b", "c"]))
    orders = Counter(inner(build_flow(spec, f"p{n}", n)) for n in range(60))
    assert set(orders) == set(permutations(["a", "b", "c"]))
    assert set(orders.values()) == {10}


def test_counterbalancing_more_than_six_scenes_rotates_them_as_a_latin_square():
    ids = [f"s{i}" for i in range(7)]
    spec = spec_with(block("counterbalance", ids))
    orders = [inner(build_flow(spec, f"p{n}", n)) for n in range(7)]
    assert all(sorted(order) == ids for order in orders)
    for position in range(7):
        assert sorted(order[position] for order in orders) == ids  # each scene once in each slot
    for order in orders:  # rotations keep the cyclic neighbours
        start = ids.index(order[0])
        assert list(order) == ids[start:] + ids[:start]


@pytest.mark.parametrize("order", ["fixed", "random", "counterbalance"])
def test_a_repeated_block_names_later_instances_with_a_number(order: str):
    spec = spec_with(block(order, ["a", "b"], repeat=3))
    flow = inner(build_flow(spec, "p1", 0))
    assert len(flow) == 6
    assert sorted(flow[:2]) == ["a", "b"]
    assert sorted(flow[2:4]) == ["a#2", "b#2"]
    assert sorted(flow[4:]) == ["a#3", "b#3"]
    assert len(set(flow)) == 6


def test_a_repeated_fixed_block_plays_its_scenes_in_order_each_time():
    spec = spec_with(block("fixed", ["a", "b"], repeat=3))
    assert inner(build_flow(spec, "p1", 0)) == ("a", "b", "a#2", "b#2", "a#3", "b#3")


def test_scene_id_of_names_the_spec_scene_behind_an_instance():
    assert scene_id_of("play") == "play"
    assert scene_id_of("play#2") == "play"
    assert scene_id_of("play#12") == "play"
    spec = spec_with(block("random", ["a", "b"], repeat=2))
    assert {scene_id_of(i) for i in build_flow(spec, "p1", 0)} == {"intro", "a", "b", "end"}
