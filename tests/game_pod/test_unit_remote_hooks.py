"""A browser game's hook columns, turn waits and episode hook columns: recorded as the hooks made them, and
whatever else a modified page sends in their place is refused with a reason (property, with hypothesis)."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_unit_remote import EXAMPLES, Recorder, session, step

from gymkube.game_pod.remote import BadEntry, RemoteGame
from gymkube.portable.hooks import MAX_HOOK_COLUMNS, MAX_HOOK_TEXT
from gymkube.spec.load import load_experiment_file


def client_game(**updates: Any) -> tuple[RemoteGame, Recorder, Any]:
    scene = load_experiment_file(EXAMPLES / "pong_client.yaml")[0].spec.gym_scenes()[0]
    scene = scene.model_copy(update={"hooks": "hooks:Anything", **updates})
    record = Recorder()
    game = RemoteGame(scene, {"game": "g1", "experiment": "x"}, record)
    game.listener = lambda what, g: None
    me = session("p-left", [])
    game.members = {"left": me}
    game.receive(me, "left", [{"k": "start", "e": 1, "seed": 1, "t": 0.0}])
    return game, record, me


def test_hook_columns_and_the_episodes_bonus_are_recorded_as_sent() -> None:
    game, record, me = client_game()
    hooks = {"hook_nearest": 3.0, "hook_note": "close", "hook_flag": True, "hook_none": None}
    end = {"k": "end", "e": 1, "status": "terminated", "steps": 1, "score": 2.0, "t": 9.0,
           "hook": {"bonus": 0.1, "hook_errors": 0, "hook_per_treasure": 1.5}}  # fmt: skip
    game.receive(me, "left", [{"k": "step", "row": step(1, **hooks)}, end])
    (row,) = record.rows["steps"]
    assert {k: row[k] for k in hooks} == hooks
    (episode,) = record.rows["episodes"]
    assert (episode["bonus"], episode["hook_errors"], episode["hook_per_treasure"]) == (0.1, 0, 1.5)


@pytest.mark.parametrize(
    ("row_or_end", "reason"),
    [
        (step(1, hook_x=[1, 2]), "hook columns: column 'hook_x'"),
        (step(1, hook_x=float("nan")), "hook columns: column 'hook_x'"),
        (step(1, hook_x=2.0**60), "hook columns: column 'hook_x'"),
        (step(1, hook_x="x" * (MAX_HOOK_TEXT + 1)), "hook columns: column 'hook_x'"),
        (step(1, hook_x=b"bytes"), "hook columns: column 'hook_x'"),
        (step(1, **{"hook_bad name": 1}), "is not a hook column"),
        (step(1, **{f"hook_c{i}": i for i in range(MAX_HOOK_COLUMNS + 1)}), "more than 16 hook columns"),
        (step(1, turn_wait_ms=5.0), "column 'turn_wait_ms' is not one a step records"),  # not a turn scene
        ({"k": "end", "e": 1, "status": "terminated", "steps": 1, "hook": {"bonus": float("inf")}}, "hook columns"),
        ({"k": "end", "e": 1, "status": "terminated", "steps": 1, "hook": {"hook_errors": -1}}, "hook columns"),
        ({"k": "end", "e": 1, "status": "terminated", "steps": 1, "hook": "bonus"}, "hook columns"),
        ({"k": "end", "e": 1, "status": "terminated", "steps": 1, "hook": {"other": 1}}, "is not a hook column"),
    ],
)
def test_what_no_hook_could_have_made_is_refused_with_a_reason(row_or_end: dict[str, Any], reason: str) -> None:
    game, record, me = client_game()
    entries = [{"k": "step", "row": step(1)}, row_or_end] if row_or_end.get("k") == "end" else [
        {"k": "step", "row": row_or_end}]  # fmt: skip
    with pytest.raises(BadEntry, match=reason):
        game.receive(me, "left", entries)
    assert record.rows["episodes"] == []


def test_without_hooks_in_the_scene_a_page_cannot_add_hook_columns() -> None:
    game, record, me = client_game(hooks=None)
    with pytest.raises(BadEntry, match="column 'hook_x' is not one a step records"):
        game.receive(me, "left", [{"k": "step", "row": step(1, hook_x=1.0)}])


def test_a_turn_scenes_wait_is_recorded_and_a_bad_one_refused() -> None:
    scene = load_experiment_file(EXAMPLES / "pong_client.yaml")[0].spec.gym_scenes()[0]
    controls = scene.controls.model_copy(update={"mode": "turn"})
    game, record, me = client_game(controls=controls)
    game.receive(me, "left", [{"k": "step", "row": step(1, turn_wait_ms=812.5)}])
    assert record.rows["steps"][0]["turn_wait_ms"] == 812.5
    for bad in (-1.0, float("nan"), "812", 1e300):
        with pytest.raises(BadEntry, match="turn_wait_ms"):
            game.receive(me, "left", [{"k": "step", "row": step(2, turn_wait_ms=bad)}])


cells = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=300) | st.binary(max_size=10) | (
    st.lists(st.integers(), max_size=3))  # fmt: skip
names = st.text(max_size=45) | st.sampled_from(["hook_a", "hook_b", "hook_", "hook_\n", "hook_" + "a" * 41])


@settings(max_examples=300, deadline=None, derandomize=True)
@given(columns=st.dictionaries(names, cells, max_size=20), hook=st.dictionaries(names | st.just("bonus"), cells))
def test_whatever_hook_values_a_page_sends_only_bounded_values_are_stored(columns: dict, hook: dict) -> None:
    game, record, me = client_game()
    end = {"k": "end", "e": 1, "status": "terminated", "steps": 1, "score": 1.0, "hook": hook}
    try:
        game.receive(me, "left", [{"k": "step", "row": step(1, **columns)}, end])
    except BadEntry:
        pass
    stored = [(k, v) for r in record.rows["steps"] + record.rows["episodes"] for k, v in r.items()
              if k.startswith("hook_") or k == "bonus"]  # fmt: skip
    for key, value in stored:
        assert key == "bonus" or (len(key) <= 45 and key[5:].replace("_", "a").isalnum() and key.isascii())
        if isinstance(value, float):
            assert math.isfinite(value) and abs(value) < 2**53
        else:
            assert value is None or isinstance(value, bool | int) or (isinstance(value, str) and len(value) <= 200)
    assert len([k for k, _ in stored if k.startswith("hook_") and k != "hook_errors"]) <= 2 * MAX_HOOK_COLUMNS
