"""A game's environment in the participant's browser (`client` and `p2p` modes): episodes, steps, records, frames.

The page's JavaScript keeps time, reads keys, draws and talks to the pod; everything that decides
what happens in the game is here, in Python, so it runs the same in CPython (tests, replays) as in
Pyodide. Calls from JavaScript pass JSON strings both ways, so no Python object outlives a call.

A step row has the columns of server mode (`action_<agent>`, `source_<agent>`, `input_*_<agent>`,
`reward`, `terminated`, `truncated`, `obs_hash`, `info_*`, `hook_*`, `turn_wait_ms`) plus `t_client_ms`,
the browser's clock when the step ran; the pod adds the columns that say whose row it is.
"""

from __future__ import annotations

import copy
import hashlib
import json
import random
from collections.abc import Callable
from functools import partial
from typing import Any

from gymkube.portable.common import import_entry_point, split_objects, step_columns
from gymkube.portable.hooks import GameHooks
from gymkube.portable.inputs import HumanSlot, TurnClock, input_columns
from gymkube.portable.parallel import Seated, make_parallel_env
from gymkube.portable.policies import PolicyRunner, choose, page_outputs, tensor

MAX_TAKE = 2000
"""Entries handed to the page per call (a second of play is at most 60 steps per game)."""


def action_count(env: Any, agent: str) -> int:
    """How many actions an agent has (a Dict space's entry, or the whole Discrete space)."""
    space = env.action_space
    if isinstance(space, dict) or hasattr(space, "spaces"):
        space = space[agent]
    return int(space.n)


class Sim:
    """One environment and its players, stepped by whoever owns it (a solo page, or a rollback peer).

    `config` is what the pod sends in the `play` event (see `gymkube.game_pod.remote.sim_config`).
    """

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        spec = config["environment"]
        kwargs = dict(spec.get("kwargs") or {})
        search = config.get("searchDir")
        self.env: Any
        if spec.get("api") == "pettingzoo":
            env = make_parallel_env(spec.get("id"), spec.get("entryPoint"), kwargs, search)
            self.env = Seated(env, list(config["players"]), spec.get("agents"))
        elif spec.get("entryPoint"):
            self.env = import_entry_point(spec["entryPoint"], search)(**kwargs)
        else:
            import gymnasium  # only when the experiment installs it in the browser

            self.env = gymnasium.make(spec["id"], disable_env_checker=True, **kwargs)
        self.render_objects = self._renderer(config.get("renderer"), search)
        self.hooks = GameHooks(config.get("hooks"), config["hud"], search, self.env)
        self.players: dict[str, dict[str, Any]] = config["players"]
        self.humans: list[str] = config["humans"]
        keys, default, mode = dict(config["keys"]), config["defaultAction"], config.get("inputMode", "held")
        self.slots = {agent: HumanSlot(agent, keys, default, mode) for agent in self.humans}
        self.turn = TurnClock(float(config.get("turnTimeoutS", 60))) if mode == "turn" else None
        self.policies = {
            agent: PolicyRunner(agent, spec.get("adapter"), (spec.get("observation") or {}).get("key"),
                                spec.get("actEvery", 1), search)
            for agent, spec in self.players.items() if spec["type"] == "policy"
        }  # fmt: skip
        self.multi_agent = len(self.players) > 1
        self.base_seed: int = config["seed"]
        self.max_steps: int = config["maxSteps"]
        self.episodes: int = config["episodes"]
        self.record_observations: bool = bool(config.get("recordObservations"))
        self.episode = 0
        self.round = 0
        self.step = 0
        self.score = 0.0
        self.over = True
        self.observation: Any = None
        self.sent_permanent: set[str] = set()

    def _renderer(self, entry_point: str | None, search: Any) -> Callable[[], list[dict[str, Any]]]:
        if entry_point:
            function = import_entry_point(entry_point, search)
            return lambda: function(self.env)
        method = getattr(getattr(self.env, "unwrapped", self.env), "render_objects", None)
        if not callable(method):
            raise LookupError("the environment has no render_objects() and the scene names no renderer")
        return method

    # episodes and steps ----------------------------------------------------------------

    def reset(self, episode: int, round_: int) -> int:
        """Start episode `episode` (seeded base + episode - 1); the participant sees it as round `round_`."""
        self.episode, self.round = episode, round_
        self.step, self.score, self.over = 0, 0.0, False
        seed = self.base_seed + episode - 1
        self.observation, _ = self.env.reset(seed=seed)
        self.sent_permanent.clear()
        for slot in self.slots.values():
            slot.release_all()
        for runner in self.policies.values():
            runner.reset()
        self.hooks.episode_start(episode, seed)
        return seed

    def ai_actions(self, outputs: dict[str, Any] | None = None) -> dict[str, tuple[int, str]]:
        """Every AI player's action for the coming step: policies from the model `outputs` (run by the page)."""
        actions: dict[str, tuple[int, str]] = {}
        for agent, spec in self.players.items():
            kind = spec["type"]
            if kind == "human":
                continue
            if kind == "policy":
                rng = random.Random(f"{spec.get('seed')}:{self.episode}:{self.step}")  # stateless: safe to re-run
                pick = partial(choose, selection=spec.get("selection", "greedy"),
                               temperature=spec.get("temperature", 1.0), rng=rng)  # fmt: skip
                actions[agent] = (self.policies[agent].act((outputs or {}).get(agent), pick), "policy")
            else:
                actions[agent] = (self.ai_action(agent, spec), kind)
        return actions

    def ai_action(self, agent: str, spec: dict[str, Any]) -> int:
        """A `random` or `noop` player's action for the coming step (`spec` a player config): every peer of a p2p
        game computes it alike, seeded by (seed, episode, step)."""
        if spec["type"] == "noop":
            return int(spec.get("action", 0))
        rng = random.Random(f"{spec.get('seed')}:{self.episode}:{self.step}")  # stateless: safe to re-run
        return rng.randrange(action_count(self.env, agent))

    def policy_feeds(self) -> list[list[Any]]:
        """[agent, model file, {input: [flat values, shape]}] for each policy due this step ("" is the first
        input): what the page runs through onnxruntime-web, answering with {agent: {output: nested list}}."""
        feeds = []
        for agent, runner in self.policies.items():
            if runner.due:
                inputs = {name: tensor(value) for name, value in runner.inputs(self.observation).items()}
                feeds.append([agent, self.players[agent]["file"], inputs])
        return feeds

    def advance(self, actions: dict[str, tuple[int, str]], now_ms: float) -> dict[str, Any]:
        """One step with every agent's (action, source); the step's row. After a terminal step, `over` is set."""
        row: dict[str, Any] = {"episode": self.episode, "step": self.step + 1, "t_client_ms": now_ms}
        chosen: dict[str, int] = {}
        for agent in self.players:
            action, source = actions[agent]
            chosen[agent] = action
            row[f"action_{agent}"] = action
            row[f"source_{agent}"] = source
        step_action: Any = chosen if self.multi_agent else chosen[self.humans[0]]
        self.observation, reward, terminated, truncated, info = self.env.step(step_action)
        self.step += 1
        truncated = bool(truncated) or self.step >= self.max_steps
        columns, counted = step_columns(self.humans, self.observation, reward, terminated, truncated, info,
                                        self.record_observations)  # fmt: skip
        row |= columns
        self.score += counted
        self.over = bool(terminated) or truncated
        if self.hooks.active:
            row |= self.hooks.step(self.step, chosen, self.observation, reward, terminated, truncated, info)
        return row

    def frame(self, game: str, now_ms: float) -> dict[str, Any]:
        """What the renderer draws now: the `state` message of server mode, built in the browser."""
        current, permanent = split_objects(self.render_objects(), self.sent_permanent)
        hud = self.hooks.hud(episode=self.round, episodes=self.episodes, score=self.score, step=self.step,
                             max_steps=self.max_steps)  # fmt: skip
        return {"g": game, "e": self.episode, "f": self.step, "o": current, "p": permanent or None,
                "hud": hud, "a": None, "t": now_ms}  # fmt: skip

    # snapshots (rollback) ---------------------------------------------------------------

    def save(self) -> dict[str, Any]:
        """Everything that decides the future: the environment's `get_state()` plus the episode's bookkeeping.

        `get_state()` must return fresh, JSON-compatible data (a resync sends it to another browser) and
        `set_state()` must take it back; see examples/pong/pong_env.py.
        """
        snapshot = {"env": self.env.get_state(), "step": self.step, "score": self.score, "over": self.over,
                    "episode": self.episode, "observation": copy.deepcopy(self.observation)}  # fmt: skip
        if self.hooks.active:  # a hooks object that keeps state between steps has get_state()/set_state() too
            snapshot["hooks"] = self.hooks.get_state()
        return snapshot

    def load(self, snapshot: dict[str, Any]) -> None:
        """Go back to a saved moment (objects on screen are re-sent whole)."""
        self.env.set_state(snapshot["env"])
        self.step, self.score, self.over = snapshot["step"], snapshot["score"], snapshot["over"]
        self.episode, self.observation = snapshot["episode"], snapshot["observation"]
        if "hooks" in snapshot:
            self.hooks.set_state(snapshot["hooks"])

    def episode_end(self, status: str, steps: int, score: float) -> dict[str, Any]:
        """The episode row's columns from the hooks (a bonus, `hook_*`), empty without hooks."""
        return self.hooks.episode_end(self.episode, status, steps, score) if self.hooks.active else {}

    @staticmethod
    def snapshot_hash(snapshot: dict[str, Any]) -> str:
        """A short hash of a snapshot, equal on every peer that is in step."""
        text = json.dumps(snapshot, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class PageGame:
    """What the page drives in either mode: the Sim, where the scene's episodes stand, the entries for the pod."""

    def __init__(self, config_json: str) -> None:
        config = json.loads(config_json)
        self.config = config
        self.sim = Sim(config)
        self.game: str = config["game"]
        self.next_episode: int = config["episode"]
        self.rounds_done: int = config["roundsDone"]
        self.entries: list[dict[str, Any]] = []

    @property
    def finished(self) -> bool:
        """Every episode of the scene played."""
        return self.rounds_done >= self.sim.episodes

    def take(self) -> str:
        """The entries not yet handed over, oldest first (the page sends them to the pod)."""
        taken, self.entries = self.entries[:MAX_TAKE], self.entries[MAX_TAKE:]
        return json.dumps(taken)

    def end_entry(self, status: str, steps: int, score: float, now_ms: float, **extra: Any) -> None:
        """Record an episode's end (with what the hooks add) and move on; the scene's hooks end with its last."""
        sim = self.sim
        hooks = sim.episode_end(status, steps, score)
        self.entries.append({"k": "end", "e": sim.episode, "status": status, "steps": steps, "score": score,
                             "t": now_ms, **({"hook": hooks} if hooks else {}), **extra})  # fmt: skip
        self.rounds_done += 1
        self.next_episode = sim.episode + 1
        if self.finished:
            sim.hooks.game_end(self.rounds_done)
        self.report_hooks()

    def report_hooks(self) -> None:
        """The game's first problem with its hooks, once, as an event for the pod to record."""
        problem = self.sim.hooks.take_error()
        if problem is not None:
            self.entries.append({"k": "event", "kind": "hook_error", "detail": problem})


class Solo(PageGame):
    """`client` mode: one participant's game, stepped by the page at the scene's frame rate.

    The page calls `key` for each key change, `start` when a countdown ends, `feeds` and `tick` once per
    frame, and `take` at least every second (the entries go to the pod as they are).
    """

    def __init__(self, config_json: str) -> None:
        super().__init__(config_json)
        self.human = self.sim.humans[0]
        self.fed_waiting: bool | None = None

    def key(self, key: str, down: bool, seq: int, client_ms: float, frame: int | None, frame_ms: float | None) -> None:
        """A key went down or up (only while an episode runs)."""
        if not self.sim.over:
            self.sim.slots[self.human].on_input(key, down, seq, client_ms, frame, frame_ms)

    def start(self, now_ms: float) -> str:
        """Begin the next episode; its first frame."""
        episode = self.next_episode
        seed = self.sim.reset(episode, self.rounds_done + 1)
        if self.sim.turn is not None:
            self.sim.turn.restart(now_ms / 1000)
        self.entries.append({"k": "start", "e": episode, "seed": seed, "t": now_ms})
        self.report_hooks()
        return json.dumps(self.sim.frame(self.game, now_ms))

    def waiting(self, now_ms: float) -> bool:
        """`turn` mode: no step yet (no key pressed, and the longest wait is not over)."""
        turn = self.sim.turn
        return turn is not None and not self.sim.slots[self.human].ready and not turn.expired(now_ms / 1000)

    def feeds(self, now_ms: float = 0.0) -> str:
        """Policy inputs for this frame (none while a turn-based game waits for a key): [agent, model file,
        {input: [flat values, shape]}] for each policy due, "" naming the model's first input."""
        self.fed_waiting = self.waiting(now_ms)
        return "[]" if self.fed_waiting else json.dumps(self.sim.policy_feeds())

    def tick(self, outputs_json: str, now_ms: float) -> str:
        """One step with the model outputs of `feeds` ({agent: [[output, flat values, shape], ...]}):
        {state, end: None or the episode's status}; {state: None} while a turn waits for a key."""
        sim = self.sim
        waiting, self.fed_waiting = (self.waiting(now_ms) if self.fed_waiting is None else self.fed_waiting), None
        if waiting:  # as `feeds` decided: a key pressed since then counts from the next tick
            return json.dumps({"state": None, "end": None})
        slot = sim.slots[self.human]
        action, source, event = slot.take_action()
        row: dict[str, Any] = {}
        if sim.turn is not None:
            source = "timeout" if source == "default" else source
            row["turn_wait_ms"] = sim.turn.waited_ms(now_ms / 1000)
            sim.turn.restart(now_ms / 1000)
        actions = sim.ai_actions(page_outputs(json.loads(outputs_json)) if outputs_json else None)
        actions[self.human] = (action, source)
        row |= sim.advance(actions, now_ms) | input_columns(self.human, event)
        self.entries.append({"k": "step", "row": row})
        end = None
        if sim.over:
            end = "terminated" if row["terminated"] else "truncated"
            self.end_entry(end, sim.step, sim.score, now_ms)
        self.report_hooks()
        return json.dumps({"state": sim.frame(self.game, now_ms), "end": end})
