"""Checks of exported data against what bots did, shared by the game pod and browser tests."""

from __future__ import annotations

from collections import defaultdict
from typing import Any


def steps_by_episode(steps: list[dict[str, Any]]) -> dict[tuple[str, int], list[dict[str, Any]]]:
    """Step rows grouped per (game, episode), in step order (a group's game has one row per tick)."""
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in steps:
        grouped[(row["game"], row["episode"])].append(row)
    for rows in grouped.values():
        rows.sort(key=lambda r: r["step"])
    return grouped


def assert_one_row_per_tick(steps: list[dict[str, Any]], episodes: list[dict[str, Any]], fps: int) -> None:
    """Steps are 1..n with no gap or repeat, n is the episode's length, ticks are 1/fps apart."""
    lengths = {(e["game"], e["episode"]): e["steps"] for e in episodes}
    period = 1_000_000_000 // fps
    for key, rows in steps_by_episode(steps).items():
        assert [r["step"] for r in rows] == list(range(1, len(rows) + 1)), f"gap or repeat in {key}"
        assert lengths.get(key) == len(rows), f"episode {key} says {lengths.get(key)} steps, has {len(rows)}"
        gaps = {b["t_planned_ns"] - a["t_planned_ns"] for a, b in zip(rows, rows[1:], strict=False)}
        assert gaps <= {period}, f"planned ticks in {key} are not exactly 1/{fps} s apart: {gaps}"


def expected_human_actions(
    rows: list[dict[str, Any]], agent: str, inputs: list[Any], keys: dict[str, int], default: int
) -> list[tuple[int, str]]:
    """What each step's action and source must be, given the inputs the bot sent.

    A step that consumed input `s` has seen every input up to `s`: the newest key pressed
    since the previous step wins (even if released again), else the newest key held.
    Inputs sent while another episode was on screen do not count (the pod ignores them).
    """
    episode = rows[0]["episode"]
    mine = [i for i in inputs if i.episode == episode]
    held: list[str] = []
    applied = 0
    expected = []
    for row in rows:
        consumed = row[f"input_seq_{agent}"]
        tapped = None
        if consumed is not None:
            for event in (i for i in mine if applied < i.seq <= consumed):
                if event.down:
                    held = [k for k in held if k != event.key] + [event.key]
                    tapped = event.key
                elif event.key in held:
                    held.remove(event.key)
            applied = consumed
        if tapped is not None:
            expected.append((keys[tapped], "human"))
        elif held:
            expected.append((keys[held[-1]], "human"))
        else:
            expected.append((default, "default"))
    return expected
