"""`gymkube check`: clean data passes; each kind of damage is named in plain words."""

from __future__ import annotations

import copy
import json
from typing import Any

from gymkube.integrity.check import check_tables


def clean() -> dict[str, list[dict[str, Any]]]:
    """A small, consistent experiment: one participant, one 4-step episode, then the end."""
    steps = [
        {"game": "g1", "episode": 1, "step": n, "participant": "p1", "action_agent": a, "source_agent": s}
        for n, (a, s) in enumerate([(1, "human"), (0, "default"), (1, "human"), (0, "default")], start=1)
    ]
    return {
        "steps": steps,
        "episodes": [{"game": "g1", "episode": 1, "status": "terminated", "steps": 4, "participant": "p1",
                      "scene": "play"}],
        "sessions": [{"participant": "p1", "session": "s1", "status": "completed", "scene_index": 2,
                      "assignment": json.dumps(["consent", "play", "end"]), "completion_code": "C1",
                      "connects": 1, "drops": 0, "episodes_played": json.dumps({"play": 1})}],
        "scenes": [{"session": "s1", "scene": "consent"}, {"session": "s1", "scene": "play"}],
        "events": [{"session": "s1", "kind": "connect", "detail": "{}"},
                   {"session": "s1", "kind": "completed", "detail": json.dumps({"code": "C1"})}],
    }  # fmt: skip


def problems(tables: dict[str, list[dict[str, Any]]]) -> list[str]:
    return check_tables("exp", tables).problems


def test_consistent_data_passes_and_default_actions_are_counted_not_blamed():
    report = check_tables("exp", clean())
    assert report.ok and report.flagged == {"default": 2}
    assert report.render().splitlines()[-1] == "exp: 1 sessions, 1 episodes, 4 steps: ok"


def test_a_gap_a_repeat_and_a_wrong_count_are_each_named():
    tables = clean()
    tables["steps"] = [tables["steps"][0], tables["steps"][2], copy.deepcopy(tables["steps"][2])]
    found = problems(tables)
    assert "game g1 episode 1: step(s) [3] recorded more than once" in found
    assert "game g1 episode 1: step(s) 2 missing" in found
    assert "game g1 episode 1: the episode row says 4 steps; 2 were recorded" in found


def test_steps_without_an_episode_or_a_session_and_an_action_without_a_source_are_problems():
    tables = clean()
    tables["steps"].append({"game": "g9", "episode": 1, "step": 1, "participant": "ghost", "action_agent": 1,
                            "source_agent": None})  # fmt: skip
    found = problems(tables)
    assert "game g9 episode 1: 1 steps but no episode row" in found
    assert "participant ghost has steps but no session row" in found
    assert "game g9 episode 1 step 1: agent's action 1 has source None" in found


def test_unaccounted_scenes_and_codes_or_counts_that_disagree_with_the_events_are_problems():
    tables = clean()
    tables["scenes"] = [tables["scenes"][1], tables["scenes"][1]]
    tables["sessions"][0] |= {"completion_code": "OTHER", "connects": 3}
    found = problems(tables)
    assert "participant p1: no scene row for consent" in found
    assert "participant p1: scene(s) play recorded more than once" in found
    assert "participant p1: completed with code 'OTHER', but no matching 'completed' event" in found
    assert "participant p1: 3 connects in the session row, 1 events" in found


def test_a_lost_episode_is_named_by_its_game_and_by_its_participant():
    tables = clean()
    second = [row | {"episode": 3} for row in tables["steps"]]
    tables["steps"] += second
    tables["episodes"].append(tables["episodes"][0] | {"episode": 3})
    tables["sessions"][0]["episodes_played"] = json.dumps({"play": 3})
    found = problems(tables)
    assert found == [
        "game g1: episode(s) 2 missing",
        "participant p1: 3 episode(s) of play played, 2 episode row(s) found",
    ]


def test_draw_times_must_name_frames_that_were_sent():
    tables = clean()
    shown = {"participant": "p1", "session": "s1", "game": "g1", "episode": 1, "t_drawn_client_ms": 1.0}
    tables["frames"] = [{**shown, "step": n} for n in (0, 1, 2, 2, 4)]  # the reset frame, and one drawn twice
    assert problems(tables) == []
    tables["frames"] += [{**shown, "step": 9}, {**shown, "episode": 2, "step": 1}]
    assert problems(tables) == [
        "game g1 episode 1: 1 draw time(s) for steps that were not recorded",
        "game g1 episode 2: 1 draw time(s) for steps that were not recorded",
    ]


def test_a_browser_episode_cut_short_may_have_drawn_steps_its_closed_tab_never_sent():
    tables = clean()
    shown = {"participant": "p1", "session": "s1", "game": "g1", "episode": 1, "t_drawn_client_ms": 1.0}
    tables["frames"] = [{**shown, "step": n} for n in (4, 5, 6)]  # drawn, never sent: the last second
    assert problems(tables) == ["game g1 episode 1: 2 draw time(s) for steps that were not recorded"]
    episode = tables["episodes"][0]
    for mode, status, found in (("client", "abandoned", 0), ("p2p", "abandoned", 0), ("client", "truncated", 2)):
        tables["episodes"][0] = episode | {"mode": mode, "status": status}
        assert len(problems(tables)) == (1 if found else 0), (mode, status)
