"""Checks of exported data against what bots did, shared by the game pod and browser tests."""

from __future__ import annotations

import json
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


def assert_draw_times(
    steps: list[dict[str, Any]],
    frames: list[dict[str, Any]],
    sessions: list[dict[str, Any]],
    agent: str = "agent",
    coverage: float = 0.9,
) -> int:
    """The frames table agrees with the steps of single-player games; returns the number of inputs checked.

    - each participant's episode has a draw time for at least `coverage` of its steps;
    - no frame was drawn before its tick, on the server's clock (client time plus the estimated
      offset; a ping-based offset is off by at most half a round trip, so that much is allowed);
    - an input's `input_frame_ms` is the draw time of the frame it names, and the key went down
      after that frame was drawn (one clock, the browser's: no offset needed).
    """
    drawn: dict[tuple[str, str, int, int], float] = {}
    for row in frames:
        drawn.setdefault((row["participant"], row["game"], row["episode"], row["step"]), row["t_drawn_client_ms"])
    for key, rows in steps_by_episode(steps).items():
        who = rows[0]["participant"]
        shown = [r for r in rows if (who, *key, r["step"]) in drawn]
        assert len(shown) >= coverage * len(rows), f"{who}: {len(shown)} of {len(rows)} frames of {key} have draw times"
    ticks = {(r["game"], r["episode"], r["step"]): r["t_tick_ns"] / 1e6 for r in steps}
    slack = {s["session"]: max(json.loads(s["latency_ms"]) or [0]) / 2 + 2 for s in sessions}
    for row in frames:
        tick = ticks.get((row["game"], row["episode"], row["step"]))
        if tick is not None and row["t_drawn_server_ms"] is not None:
            early = tick - row["t_drawn_server_ms"]
            assert early <= slack[row["session"]], f"frame drawn {early:.1f} ms before its tick"
    checked = 0
    for row in steps:
        frame_ms = row.get(f"input_frame_ms_{agent}")
        if frame_ms is None:
            continue
        # The frame on screen may still be the previous episode's last one when a key goes down.
        here, before = (
            (row["participant"], row["game"], e, row[f"input_frame_{agent}"])
            for e in (row["episode"], row["episode"] - 1)
        )
        assert frame_ms in (drawn.get(here), drawn.get(before)), (
            f"input of step {row['step']} names a frame not drawn then"
        )
        assert row[f"input_client_ms_{agent}"] >= frame_ms, "the key went down before its frame was drawn"
        checked += 1
    return checked
