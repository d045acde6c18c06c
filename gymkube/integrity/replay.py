"""`gymkube replay`: re-run recorded episodes from their records and compare them step by step.

An episode row carries the environment (id or entry point, kwargs), the reset seed, max_steps,
the bundle's content hash and package versions; the step rows carry every player's action.
Replaying resets a fresh environment with the seed, feeds it the recorded actions and compares
each step's reward(s), terminated, truncated and observation hash with the record. The first
difference is reported with what differed, so hidden nondeterminism (an unseeded random
generator, wall-clock time, a dict ordered by hash) is caught at the step where it shows.

The environment's code comes from a bundle the experiment's spec named (recorded by the control
plane, see gymkube/storage/trusted.py), or from a folder given with `--bundle`; never from anything
a game pod wrote.
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym

from gymkube.game_pod.environments import import_entry_point, runtime_versions
from gymkube.portable.common import observation_hash
from gymkube.portable.parallel import Seated, make_parallel_env
from gymkube.storage.backends import Storage
from gymkube.storage.bundles import BundleError, bundle_hash, extract_bundle, load_bundle
from gymkube.storage.trusted import trusted_bundles

if TYPE_CHECKING:
    from gymkube.progressbar import ProgressBar
    from gymkube.storage.export import Progress


@dataclass
class Divergence:
    """The first step at which a replay differs from the record."""

    step: int
    what: str
    recorded: Any
    replayed: Any

    def __str__(self) -> str:
        return f"step {self.step}: {self.what} recorded {self.recorded!r}, replayed {self.replayed!r}"


@dataclass
class EpisodeReplay:
    """One episode's replay."""

    game: str
    episode: int
    participant: str | None
    steps: int = 0
    divergence: Divergence | None = None
    error: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        """Every recorded step came out the same."""
        return self.error is None and self.divergence is None

    def line(self) -> str:
        """One line for the report."""
        who = f" ({self.participant})" if self.participant else ""
        head = f"game {self.game} episode {self.episode}{who}"
        if self.error:
            return f"{head}: NOT REPLAYED: {self.error}"
        if self.divergence:
            return f"{head}: DIVERGES at {self.divergence}"
        return f"{head}: identical ({self.steps} steps)"


class BundleCache:
    """The code episodes ran with, by content hash: the `--bundle` folder, or a bundle the spec named.

    Nothing a game pod wrote decides what runs here: a recorded hash is replayed only with the
    researcher's own folder (`--bundle`) or with a bundle the control plane recorded as named by the
    experiment's spec (gymkube/storage/trusted.py), taken from the content-addressed `bundles/` store
    and checked against its digest and its content hash.
    """

    def __init__(self, storage: Storage, experiment: str, folder: Path | None) -> None:
        self.storage = storage
        self.experiment = experiment
        self.dirs: dict[str, Path] = {}
        self._trusted: dict[str, str] | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="gymkube-replay-")
        if folder is not None:
            digest = bundle_hash(folder)
            if digest is not None:
                self.dirs[digest] = folder.resolve()

    def get(self, content_hash: str | None) -> Path | None:
        """The folder of the bundle with this content hash; LookupError when none may be run."""
        if not content_hash:
            return None
        if content_hash in self.dirs:
            return self.dirs[content_hash]
        if self._trusted is None:
            self._trusted = trusted_bundles(self.storage, self.experiment)
        digest = self._trusted.get(content_hash)
        if digest is None:
            named = ", ".join(sorted(self._trusted.values())) or "none recorded"
            raise LookupError(
                f"the episode ran bundle {content_hash[:12]}…, which is not a bundle the experiment's spec named "
                f"({named}); not running code from storage that the spec does not name: pass the experiment's "
                "folder with --bundle if you trust it"
            )
        target = Path(self._tmp.name) / digest.removeprefix("sha256:")
        try:
            extract_bundle(load_bundle(self.storage, digest), target)
        except (KeyError, BundleError) as exc:
            raise LookupError(f"the spec's bundle {digest} cannot be loaded: {exc}") from None
        if bundle_hash(target) != content_hash:
            raise LookupError(f"the spec's bundle {digest} does not hold the files the episode ran with")
        self.dirs[content_hash] = target
        return target

    def close(self) -> None:
        """Remove extracted bundles."""
        self._tmp.cleanup()


def make_recorded_env(episode: dict[str, Any], bundle_dir: Path | None) -> Any:
    """The environment an episode row names, built as the game pod built it."""
    name, kwargs = episode["env"], json.loads(episode.get("env_kwargs") or "{}")
    if bundle_dir is not None:  # pure-Python wheels a browser game installed from the bundle import from their zip
        for wheel in sorted(bundle_dir.rglob("*-py3-none-any.whl")):
            if str(wheel) not in sys.path:
                sys.path.append(str(wheel))
    if episode.get("env_api") == "pettingzoo":
        entry_point = name if episode.get("env_source") == "entryPoint" else None
        env = make_parallel_env(None if entry_point else name, entry_point, kwargs, bundle_dir)
        players = list(json.loads(episode.get("players") or "{}"))
        return Seated(env, players, json.loads(episode.get("env_agents") or "null"))
    if episode.get("env_source") == "entryPoint" or (":" in name and name not in gym.registry):
        return import_entry_point(name, bundle_dir)(**kwargs)
    return gym.make(name, disable_env_checker=True, **kwargs)


def _same(a: float, b: float) -> bool:
    return a == b or (math.isnan(a) and math.isnan(b))


def replay_episode(episode: dict[str, Any], steps: list[dict[str, Any]], bundles: BundleCache) -> EpisodeReplay:
    """Re-run one episode from its records; the first difference, if any."""
    result = EpisodeReplay(episode["game"], int(episode["episode"]), episode.get("participant"))
    players = list(json.loads(episode.get("players") or "{}"))
    if not players:
        result.error = "the episode row names no players"
        return result
    try:
        env = make_recorded_env(episode, bundles.get(episode.get("bundle_hash")))
    except Exception as exc:  # the environment cannot be built here: say why
        result.error = f"cannot build {episode['env']!r}: {exc}"
        return result
    try:
        recorded = json.loads(episode.get("versions") or "{}")
        current = runtime_versions(env)
        for package in ("gymnasium", "numpy", "env_package_version"):
            if recorded.get(package) != current.get(package):
                result.warnings.append(f"{package} {recorded.get(package)} recorded, {current.get(package)} here")
        env.reset(seed=int(episode["seed"]))
        max_steps = int(episode.get("max_steps") or 0)
        for row in steps:
            actions = {agent: int(row[f"action_{agent}"]) for agent in players}
            action: Any = actions if len(players) > 1 else actions[players[0]]
            observation, reward, terminated, truncated, _ = env.step(action)
            step = int(row["step"])
            truncated = bool(truncated) or (max_steps > 0 and step >= max_steps)
            checks: list[tuple[str, Any, Any]] = []
            if isinstance(reward, dict):
                checks += [(f"reward_{a}", row.get(f"reward_{a}"), float(v)) for a, v in reward.items()]
            else:
                checks.append(("reward", row["reward"], float(reward)))
            checks += [
                ("terminated", bool(row["terminated"]), bool(terminated)),
                ("truncated", bool(row["truncated"]), truncated),
                ("obs_hash", row["obs_hash"], observation_hash(observation)),
            ]
            for what, was, now in checks:
                differs = not _same(float(was), now) if isinstance(now, float) and was is not None else was != now
                if differs:
                    result.divergence = Divergence(step, what, was, now)
                    return result
            result.steps += 1
        if result.steps != int(episode.get("steps") or result.steps):
            result.warnings.append(f"the episode says {episode['steps']} steps; {result.steps} step rows were found")
    except Exception as exc:
        result.error = f"step {result.steps + 1} raised {exc!r}"
    finally:
        env.close()
    return result


def replayable(
    tables: dict[str, list[dict[str, Any]]], only: set[str] | None = None
) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
    """(episode row, its step rows in order) for every episode that has steps; `only`: game or game:episode."""
    by_key: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in tables.get("steps", []):
        by_key[(row["game"], int(row["episode"]))].append(row)
    for episode in tables.get("episodes", []):
        key = (episode["game"], int(episode["episode"]))
        if key not in by_key or episode.get("seed") is None:
            continue  # interrupted before its first step was saved, or a marker without steps
        if only and episode["game"] not in only and f"{key[0]}:{key[1]}" not in only:
            continue
        yield episode, sorted(by_key[key], key=lambda r: int(r["step"]))


def replay_experiment(
    storage: Storage,
    experiment: str,
    bundle: Path | None = None,
    only: set[str] | None = None,
    progress: Progress | None = None,
    episodes_progress: Callable[[int], ProgressBar] | None = None,
) -> list[EpisodeReplay]:
    """Replay every recorded episode of an experiment (or those in `only`).

    `progress` shows the reading of each table; `episodes_progress(n)` makes the bar of the n replays.

    Raises:
        LookupError: when the experiment has no episodes.
    """
    from gymkube.storage.export import read_tables

    merged = read_tables(storage, experiment, ("episodes", "steps"), progress)
    if "episodes" not in merged:
        raise LookupError(f"no episodes of {experiment!r} in {storage.url}")
    episodes = list(replayable({name: table.to_pylist() for name, table in merged.items()}, only))
    bundles = BundleCache(storage, experiment, bundle)
    results = []
    try:
        with episodes_progress(len(episodes)) if episodes_progress else nullcontext() as bar:
            for episode, steps in episodes:
                results.append(replay_episode(episode, steps, bundles))
                if bar is not None:
                    bar.update(len(results))
    finally:
        bundles.close()
    return results


def report(results: list[EpisodeReplay]) -> str:
    """The replay report: one line per episode that is not identical, and the share that is."""
    identical = sum(r.identical for r in results)
    lines = [r.line() for r in results if not r.identical]
    warnings = sorted({w for r in results for w in r.warnings})
    lines += [f"warning: {w}" for w in warnings]
    share = 100.0 * identical / len(results) if results else 0.0
    lines.append(f"{identical} of {len(results)} episodes replay identically ({share:.1f}%)")
    return "\n".join(lines)
