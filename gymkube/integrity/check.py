"""`gymkube check`: an experiment's data is complete and consistent, or a readable list of what is not.

What is checked:
- steps: numbered 1..n without gaps or repeats in every (game, episode), n equal to the episode
  row's `steps`, every step with an episode row, every action with a known source;
- episodes: one row per (game, episode) (a crash may add `interrupted` markers beside it);
- episodes: numbered without gaps in every game;
- sessions: every participant in the steps has a session; every scene a session went through has
  its scene row (the end scene excepted), once; the episodes it played have their rows;
  completion codes, endings, connects and drops agree with the events table;
- frames: every reported draw time names a recorded step (or an episode's first frame, step 0;
  a frame drawn again after a reload has a second draw time, which is fine).

Default and substituted actions are not problems: they are counted per source and listed, so a
report can say how many steps a participant did not control.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gymkube.storage.backends import Storage

if TYPE_CHECKING:
    from gymkube.storage.export import Progress

SOURCES = {"human", "gamepad", "default", "timeout", "absent", "fallback", "policy", "random", "noop"}
FLAGGED = ("default", "timeout", "absent", "fallback")
"""Sources of actions a participant did not choose: no key held, no key within a turn's time, away, or an AI in
their seat."""
PLAYED = {"terminated", "truncated", "abandoned", "dropout", "interrupted", "error", "excluded"}
COUNTED = {"terminated", "truncated", "abandoned"}
"""Episode outcomes that count as played for the participant (the session's `episodes_played`)."""
MAX_LISTED = 50


@dataclass
class CheckReport:
    """What `gymkube check` found."""

    experiment: str
    sessions: int = 0
    episodes: int = 0
    steps: int = 0
    problems: list[str] = field(default_factory=list)
    flagged: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        """No problems."""
        return not self.problems

    def render(self) -> str:
        """The report as printed."""
        lines = [f"{len(self.problems)} problem(s):"] if self.problems else []
        lines += [f"  - {p}" for p in self.problems[:MAX_LISTED]]
        if len(self.problems) > MAX_LISTED:
            lines.append(f"  ... and {len(self.problems) - MAX_LISTED} more")
        flagged = ", ".join(f"{n} {source}" for source, n in sorted(self.flagged.items())) or "none"
        lines.append(f"actions not chosen by a participant: {flagged}")
        verdict = "ok" if self.ok else "NOT OK"
        lines.append(
            f"{self.experiment}: {self.sessions} sessions, {self.episodes} episodes, {self.steps} steps: {verdict}"
        )
        return "\n".join(lines)


def _agents(row: dict[str, Any]) -> list[str]:
    return [k.removeprefix("source_") for k in row if k.startswith("source_")]


def check_steps(report: CheckReport, steps: list[dict[str, Any]], episodes: list[dict[str, Any]]) -> None:
    """Contiguous, unique, counted steps; a known source for every action."""
    rows_of: dict[tuple[str, int], list[int]] = defaultdict(list)
    for row in steps:
        key = (row["game"], int(row["episode"]))
        rows_of[key].append(int(row["step"]))
        for agent in _agents(row):
            source = row.get(f"source_{agent}")
            if source is None and row.get(f"action_{agent}") is None:
                continue  # an agent of another game in the same merged table
            if source not in SOURCES or row.get(f"action_{agent}") is None:
                report.problems.append(
                    f"game {key[0]} episode {key[1]} step {row['step']}: {agent}'s action "
                    f"{row.get(f'action_{agent}')!r} has source {source!r}"
                )
            elif source in FLAGGED:
                report.flagged[source] += 1
    outcomes: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for episode in episodes:
        outcomes[(episode["game"], int(episode["episode"]))].append(episode)
    for key, rows in outcomes.items():
        final = [r for r in rows if r.get("steps") is not None]
        if len(final) > 1:
            report.problems.append(f"game {key[0]} episode {key[1]} has {len(final)} episode rows")
        if any(r.get("status") not in PLAYED for r in rows):
            report.problems.append(f"game {key[0]} episode {key[1]} has an unknown status {rows[0].get('status')!r}")
    numbers_of: dict[str, set[int]] = defaultdict(set)
    for game, number in outcomes:
        numbers_of[game].add(number)
    for game, played in sorted(numbers_of.items()):
        gap = sorted(set(range(min(played), max(played) + 1)) - played)
        if gap:
            report.problems.append(f"game {game}: episode(s) {_ranges(gap)} missing")
    for key, numbers in sorted(rows_of.items()):
        where = f"game {key[0]} episode {key[1]}"
        counts = Counter(numbers)
        repeated = sorted(n for n, c in counts.items() if c > 1)
        if repeated:
            report.problems.append(f"{where}: step(s) {repeated[:10]} recorded more than once")
        present = sorted(counts)
        missing = sorted(set(range(1, present[-1] + 1)) - set(present))
        if missing:
            report.problems.append(f"{where}: step(s) {_ranges(missing)} missing")
        recorded = outcomes.get(key)
        if not recorded:
            report.problems.append(f"{where}: {len(numbers)} steps but no episode row")
            continue
        counted = [r["steps"] for r in recorded if r.get("steps") is not None]
        if counted and int(counted[0]) != len(counts):
            report.problems.append(f"{where}: the episode row says {counted[0]} steps; {len(counts)} were recorded")


def _ranges(numbers: list[int]) -> str:
    spans: list[str] = []
    start = previous = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == previous + 1:
            previous = n
            continue
        spans.append(str(start) if start == previous else f"{start}-{previous}")
        if n is not None:
            start = previous = n
    return ", ".join(spans[:10]) + (" ..." if len(spans) > 10 else "")


def check_sessions(report: CheckReport, tables: dict[str, list[dict[str, Any]]]) -> None:
    """Scenes and episodes accounted for; codes, endings, connects and drops agree with the events."""
    sessions, scenes, events = tables.get("sessions", []), tables.get("scenes", []), tables.get("events", [])
    steps, episodes = tables.get("steps", []), tables.get("episodes", [])
    known = {s["participant"] for s in sessions}
    players: set[str] = {str(row["participant"]) for row in steps if row.get("participant")}
    players |= {str(v) for row in steps for k, v in row.items() if k.startswith("participant_") and v}
    for participant in sorted(players - known):
        report.problems.append(f"participant {participant} has steps but no session row")
    seen: dict[str, Counter[str]] = defaultdict(Counter)
    for row in scenes:
        seen[row["session"]][row["scene"]] += 1
    episodes_of: Counter[tuple[str, str]] = Counter()
    for episode in episodes:
        if episode.get("status") not in COUNTED:
            continue
        if episode.get("participant"):
            episodes_of[(episode["participant"], episode["scene"])] += 1
        else:  # a group's game: the seats' participants when the episode ended
            for seat in json.loads(episode.get("players") or "{}").values():
                if seat.get("participant"):
                    episodes_of[(seat["participant"], episode["scene"])] += 1
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    details: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for event in events:
        kinds[event["session"]][event["kind"]] += 1
        if event["kind"] in ("completed", "ended"):
            details[(event["session"], event["kind"])].append(json.loads(event.get("detail") or "{}"))
    for s in sessions:
        who, session = s["participant"], s["session"]
        flow = json.loads(s.get("assignment") or "[]")
        index = int(s.get("scene_index") or 0)
        left = (
            flow[:-1] if s["status"] == "completed" else flow[: index + 1] if s["status"] == "ended" else flow[:index]
        )
        counts = seen.get(session, Counter())
        missing = [scene for scene in left if counts[scene] == 0]
        if missing:
            report.problems.append(f"participant {who}: no scene row for {', '.join(missing)}")
        twice = sorted(scene for scene, n in counts.items() if n > 1)
        if twice:
            report.problems.append(f"participant {who}: scene(s) {', '.join(twice)} recorded more than once")
        played = json.loads(s.get("episodes_played") or "{}")
        for scene, expected in sorted(played.items()):
            found = episodes_of.get((who, scene), 0)
            if found != int(expected):
                report.problems.append(
                    f"participant {who}: {expected} episode(s) of {scene} played, {found} episode row(s) found"
                )
        happened = kinds.get(session, Counter())
        if s["status"] in ("completed", "ended"):
            codes = {d.get("code") for d in details.get((session, s["status"]), [])}
            if s.get("completion_code") not in codes:
                report.problems.append(
                    f"participant {who}: {s['status']} with code {s.get('completion_code')!r}, "
                    f"but no matching '{s['status']}' event"
                )
        connects = happened["connect"] + happened["reconnect"]
        if s.get("connects") is not None and int(s["connects"]) != connects:
            report.problems.append(f"participant {who}: {s['connects']} connects in the session row, {connects} events")
        if s.get("drops") is not None and int(s["drops"]) != happened["drop"]:
            report.problems.append(
                f"participant {who}: {s['drops']} drops in the session row, {happened['drop']} events"
            )


def check_frames(
    report: CheckReport, frames: list[dict[str, Any]], steps: list[dict[str, Any]], episodes: list[dict[str, Any]]
) -> None:
    """Draw times name frames that were sent: a recorded step, or step 0 (the reset) of a recorded episode.

    A browser game's episode cut short (not terminated or truncated) by a closed tab or a reload lost the
    steps the page had not sent yet (at most about a second), and a p2p page draws frames it predicted
    before they are confirmed: in such an episode, draws after its last recorded step are expected.
    """
    recorded = {(row["game"], int(row["episode"]), int(row["step"])) for row in steps}
    recorded |= {(game, episode, 0) for game, episode, _ in recorded}
    cut_short = {
        (row["game"], int(row["episode"])): int(row.get("steps") or 0)
        for row in episodes
        if row.get("mode") in ("client", "p2p") and row.get("status") not in ("terminated", "truncated")
    }
    unknown: Counter[tuple[str, int]] = Counter()
    for row in frames:
        key = (row["game"], int(row["episode"]), int(row["step"]))
        if key not in recorded and not (key[:2] in cut_short and key[2] > cut_short[key[:2]]):
            unknown[key[:2]] += 1
    for (game, episode), n in sorted(unknown.items()):
        report.problems.append(f"game {game} episode {episode}: {n} draw time(s) for steps that were not recorded")


def check_tables(experiment: str, tables: dict[str, list[dict[str, Any]]]) -> CheckReport:
    """Check merged tables (as `read_tables` returns them, as rows)."""
    report = CheckReport(experiment)
    steps, episodes = tables.get("steps", []), tables.get("episodes", [])
    report.sessions, report.episodes, report.steps = len(tables.get("sessions", [])), len(episodes), len(steps)
    check_steps(report, steps, episodes)
    check_sessions(report, tables)
    check_frames(report, tables.get("frames", []), steps, episodes)
    return report


def check_experiment(storage: Storage, experiment: str, progress: Progress | None = None) -> CheckReport:
    """Read an experiment's data from storage (each table's reading shown by `progress`) and check it.

    Raises:
        LookupError: when there is no data.
    """
    from gymkube.storage.export import read_tables

    merged = read_tables(storage, experiment, progress=progress)
    if not merged:
        raise LookupError(f"no data of {experiment!r} in {storage.url}")
    return check_tables(experiment, {name: table.to_pylist() for name, table in merged.items()})
