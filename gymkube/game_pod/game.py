"""One game: an environment, its players and the episode lifecycle, stepped by the ticker."""

from __future__ import annotations

import enum
import json
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gymkube.game_pod import environments
from gymkube.game_pod.frames import FrameEncoder
from gymkube.game_pod.players import Actor, make_actor
from gymkube.game_pod.protocol import Event
from gymkube.portable.common import step_columns
from gymkube.portable.hooks import GameHooks
from gymkube.portable.inputs import HumanSlot, TurnClock, input_columns
from gymkube.spec.gym import GymScene, HumanPlayer

log = logging.getLogger(__name__)


class Status(enum.StrEnum):
    """Where a game is in its life."""

    COUNTDOWN = "countdown"
    PLAYING = "playing"
    PAUSED = "paused"
    DONE = "done"
    ABANDONED = "abandoned"


def hud_config(scene: GymScene) -> str | dict[str, Any]:
    """The scene's `hud` as `GameHooks` takes it: a template, or {function} / {environment}."""
    return scene.hud if isinstance(scene.hud, str) else scene.hud.model_dump(exclude_defaults=True)


def scene_columns(scene: GymScene) -> dict[str, Any]:
    """An episode row's columns that come from its scene: what `gymkube replay` rebuilds the environment from."""
    env = scene.environment
    return {
        "env": env.name,
        "env_source": "id" if env.id is not None else "entryPoint",
        "env_kwargs": json.dumps(env.kwargs, sort_keys=True),
        "fps": scene.fps,
        "max_steps": scene.max_steps,
        **({"env_api": env.api, "env_agents": json.dumps(env.agents)} if env.api == "pettingzoo" else {}),
    }


class Game:
    """A gym scene being played: one participant, or a group, beside any AI players."""

    def __init__(
        self,
        scene: GymScene,
        base_row: dict[str, Any],
        bundle_dir: Path | None,
        record: Callable[[str, dict[str, Any]], None],
        first_episode: int = 1,
        rounds_done: int = 0,
        record_observations: bool = False,
        group: str | None = None,
        empty_seats: tuple[str, ...] = (),
    ) -> None:
        self.id = base_row["game"]
        self.scene = scene
        self.base_row = base_row
        self.record = record
        self.record_observations = record_observations
        self.bundle_dir = bundle_dir or Path(".")
        self.group = group
        self.env = environments.make_env(scene, bundle_dir)
        self.hooks = GameHooks(scene.hooks, hud_config(scene), bundle_dir, self.env)
        self.frames = FrameEncoder(scene, self.env, bundle_dir)
        self.base_seed = scene.seed if scene.seed is not None else random.SystemRandom().randrange(2**31)
        controls = scene.controls
        self.slots = {
            agent: HumanSlot(agent, controls.keymap(), controls.default_action, controls.mode)
            for agent in scene.human_agents
        }
        self.turn = TurnClock(controls.turn_timeout_s) if controls.mode == "turn" else None
        self.solo = len(self.slots) == 1
        self.actors: dict[str, Actor] = {
            agent: make_actor(spec, agent, self.env, self.bundle_dir, self._seed_for(agent))
            for agent, spec in scene.players.items()
            if not isinstance(spec, HumanPlayer)
        }
        # Seats whose fallback player took over: agent -> {episode, step, seed} when it did.
        self.takeovers: dict[str, dict[str, Any]] = {}
        # The participants' sessions by the agent they play (set by the pod; a seat left for
        # good is removed).
        self.members: dict[str, Any] = {}
        self.multi_agent = len(scene.players) > 1
        # `episode` numbers every episode of this scene uniquely in the data; `round` is what the
        # participant sees (an episode our crash interrupted is replayed and not counted).
        self.episode = first_episode - 1
        self.rounds_done = rounds_done
        self.episodes_left = scene.episodes - rounds_done
        self.status = Status.COUNTDOWN
        self.countdown_until = 0.0
        self.step = 0
        self.steps_shown: dict[int, int] = {}
        """Per episode of this game, the last step sent to the browsers (0: its first frame)."""
        self.episode_open = False
        self.score = 0.0
        self.seed = self.base_seed
        self.observation: Any = None
        self.t_start_ns = 0
        self.outbox: list[tuple[str, dict[str, Any]]] = []
        self.listener: Callable[[str, Game], None] | None = None
        for agent in empty_seats:
            self.take_over(agent)
        self._begin_countdown()

    @property
    def is_active(self) -> bool:
        """Not yet over (done or stopped)."""
        return self.status not in (Status.DONE, Status.ABANDONED)

    def _seed_for(self, agent: str) -> int:
        return self.base_seed + list(self.scene.players).index(agent) + 1

    @property
    def human(self) -> HumanSlot:
        """The (first) human seat: the only one in a solo game."""
        return next(iter(self.slots.values()))

    def take_over(self, agent: str) -> None:
        """A human seat's fallback player plays it from the next step on (recorded as `fallback`)."""
        spec = self.scene.players[agent]
        assert isinstance(spec, HumanPlayer) and spec.fallback is not None, f"{agent} has no fallback"
        seed = self._seed_for(agent) + 1_000_003
        self.actors[agent] = make_actor(spec.fallback, agent, self.env, self.bundle_dir, seed)
        self.takeovers[agent] = {"episode": max(self.episode, 1), "step": self.step, "seed": seed}
        self.slots[agent].present = False
        member = self.members.pop(agent, None)
        if member is not None:  # later rows do not name them; the episode row says who left
            self.takeovers[agent]["left"] = member.progress.participant
            if f"participant_{agent}" in self.base_row:
                self.base_row = {**self.base_row, f"participant_{agent}": None}

    def set_present(self, agent: str, present: bool) -> None:
        """A group member left (their seat gets the default action, recorded `absent`) or came back."""
        slot = self.slots[agent]
        slot.present = present
        slot.release_all()
        if present:
            slot.last_seq = -1
            self.frames.resend_permanent()
            self._notify(self.status if self.status != Status.PAUSED else Status.COUNTDOWN)

    def players_view(self) -> list[dict[str, Any]]:
        """Every agent as the browser shows it (who is human, who is AI right now)."""
        return [
            {
                "agent": agent,
                "label": spec.label,
                "color": spec.color,
                "kind": "human" if agent in self.slots and agent not in self.actors else "ai",
            }
            for agent, spec in self.scene.players.items()
        ]

    def personal(self, event: str, payload: dict[str, Any], agent: str) -> dict[str, Any]:
        """A message as one member receives it: their own agent, their own input acknowledged."""
        if event == Event.STATE:
            seq = self.slots[agent].last_seq
            return payload | {"a": seq if seq >= 0 else None}
        if event == Event.GAME:
            players = [p | {"you": p["agent"] == agent} for p in payload["players"]]
            return payload | {"agent": agent, "players": players}
        return payload

    # lifecycle -------------------------------------------------------------------------

    def _notify(self, status: str, countdown: float = 0.0, episode: int | None = None) -> None:
        self.outbox.append(
            (
                Event.GAME,
                {
                    "game": self.id,
                    "status": status,
                    "episode": episode if episode is not None else self.round,
                    "episodes": self.scene.episodes,
                    "countdown": round(max(countdown, 0.0), 2),
                    "agent": self.human.agent,
                    "keys": self.scene.controls.capture_keys,
                    "input": self.scene.controls.mode,
                    "players": self.players_view(),
                    "group": self.group,
                },
            )
        )

    def _notify_countdown(self) -> None:
        self._notify(Status.COUNTDOWN, self.countdown_until - time.monotonic())

    def _begin_countdown(self, seconds: float | None = None) -> None:
        self.status = Status.COUNTDOWN
        self.countdown_until = time.monotonic() + float(self.scene.countdown_s if seconds is None else seconds)
        self._notify_countdown()

    def _start_episode(self) -> None:
        self.episode += 1
        self.episode_open = True
        self.step = 0
        self.steps_shown[self.episode] = 0
        self.score = 0.0
        self.t_start_ns = time.time_ns()
        self.seed = self.base_seed + self.episode - 1
        self.observation, _ = self.env.reset(seed=self.seed)
        for slot in self.slots.values():
            slot.release_all()
        for actor in self.actors.values():
            actor.reset()
        self.hooks.episode_start(self.episode, self.seed)
        self._record_hook_error()
        if self.turn is not None:
            self.turn.restart(time.monotonic())
        self.frames.resend_permanent()
        self.status = Status.PLAYING
        self._notify(Status.PLAYING)
        self.outbox.append((Event.STATE, self.frames.state(self, None)))
        self._tell("episode_start")

    def _end_episode(self, status: str) -> None:
        self.episode_open = False
        self.record("episodes", self.episode_row(status))
        self.episodes_left -= 1
        self.rounds_done += 1
        self._tell("episode_end")
        if self.episodes_left > 0:
            self.step = 0
            self._begin_countdown()
        else:
            self.status = Status.DONE
            self._notify(Status.DONE)
            self._game_over()
            self._tell("done")

    def _game_over(self) -> None:
        self.hooks.game_end(self.rounds_done)
        self._record_hook_error()
        self.env.close()

    def _record_hook_error(self) -> None:
        """The game's first problem with its hooks (or HUD code), recorded once; the game goes on."""
        problem = self.hooks.take_error()
        if problem is None:
            return
        log.warning("game %s: a hook failed: %s", self.id, problem["error"])
        ids = {k: self.base_row.get(k) for k in ("experiment", "participant", "session")}
        detail = {"game": self.id, "group": self.group, "scene": self.base_row.get("scene"), **problem}
        self.record("events", {**ids, "t_ns": time.time_ns(), "kind": "hook_error", "detail": json.dumps(detail)})

    @property
    def round(self) -> int:
        """The participant-facing episode number: the one being played or about to start."""
        return min(self.rounds_done + 1, self.scene.episodes)

    def _tell(self, what: str) -> None:
        if self.listener is not None:
            self.listener(what, self)

    def episode_row(self, status: str) -> dict[str, Any]:
        """The episodes-table row: outcome plus everything a replay needs."""
        players = {
            agent: {**spec.model_dump(by_alias=True, exclude_none=True)}
            | ({"seed": self.actors[agent].seed} if agent in self.actors else {})
            | ({"takeover": self.takeovers[agent]} if agent in self.takeovers else {})
            | ({"participant": self.members[agent].progress.participant} if agent in self.members else {})
            for agent, spec in self.scene.players.items()
        }
        return {
            **self.base_row,
            "episode": self.episode,
            "status": status,
            "steps": self.step,
            "score": self.score,
            "seed": self.seed,
            "t_start_ns": self.t_start_ns,
            "t_end_ns": time.time_ns(),
            **scene_columns(self.scene),
            "players": json.dumps(players, sort_keys=True),
            "versions": json.dumps(environments.runtime_versions(self.env), sort_keys=True),
            **self._hook_columns(status),
        }

    def _hook_columns(self, status: str) -> dict[str, Any]:
        """The hooks' `on_episode_end`: a bonus and `hook_*` columns for the episode row (none without hooks)."""
        if not self.hooks.active:
            return {}
        columns = self.hooks.episode_end(self.episode, status, self.step, self.score)
        self._record_hook_error()
        return columns

    def pause(self, agent: str | None = None) -> None:
        """The only participant is gone for now: stop stepping, keep the episode."""
        if self.status in (Status.PLAYING, Status.COUNTDOWN):
            self.status = Status.PAUSED
            self.slots[agent or self.human.agent].release_all()

    def resume(self, agent: str | None = None) -> None:
        """The participant is back: re-send scenery, count down, play on.

        A new page numbers its inputs from 1 again, so the sequence check starts over.
        """
        slot = self.slots[agent or self.human.agent]
        self.frames.resend_permanent()
        slot.release_all()
        slot.last_seq = -1
        if self.turn is not None:
            self.turn.restart(time.monotonic())  # the wait for a press starts again with the participant back
        if self.status == Status.PAUSED:
            self._begin_countdown(min(3, self.scene.countdown_s or 3))
        elif self.status == Status.COUNTDOWN:
            self._notify_countdown()
        elif self.status == Status.PLAYING:
            self._notify(Status.PLAYING)

    def stop(self, status: str) -> None:
        """End the game now (`abandoned`, `interrupted`): the open episode is recorded so."""
        if self.status in (Status.DONE, Status.ABANDONED):
            return
        if self.step > 0:
            self.record("episodes", self.episode_row(status))
            if status == "abandoned":  # the participant's doing: it counts as played
                self.rounds_done += 1
            self._tell("episode_end")
        self.status = Status.ABANDONED
        self._notify(Status.ABANDONED)
        self._game_over()

    def fail(self) -> None:
        """The game broke (an exception in its tick): its players move on."""
        self._tell("failed")

    def drawable(self, episode: int, step: int) -> bool:
        """Whether this game sent the frame of `step` in `episode` (so a browser may report drawing it)."""
        return step <= self.steps_shown.get(episode, -1)

    def on_input(
        self, agent: str, key: Any, down: Any, seq: Any, client_ms: Any, frame: Any, episode: Any, frame_ms: Any = None
    ) -> None:
        """A key event from the participant playing `agent`; one pressed during another episode is ignored."""
        slot = self.slots.get(agent)
        if slot is None or agent in self.actors:
            return
        if self.status != Status.PLAYING or (isinstance(episode, int) and episode != self.episode):
            slot.ignored += 1
            return
        slot.on_input(key, down, seq, client_ms, frame, frame_ms)

    # the tick --------------------------------------------------------------------------

    def tick(self, planned_ns: int) -> None:
        """Advance one tick: count down, or step every player once and record the step."""
        if self.status == Status.COUNTDOWN:
            if time.monotonic() >= self.countdown_until:
                if not self.episode_open:
                    self._start_episode()
                else:  # back from a pause: the same episode goes on, even one paused before its first step
                    self.status = Status.PLAYING
                    self._notify(Status.PLAYING)
            return
        if self.status != Status.PLAYING:
            return
        timed_out, now = False, 0.0
        if self.turn is not None:  # turn-based: no step until every player here has pressed (or the wait is over)
            now = time.monotonic()
            timed_out = self.turn.expired(now)
            if not timed_out and not all(s.ready for a, s in self.slots.items() if a not in self.actors):
                return
        t_tick_ns = time.time_ns()
        row: dict[str, Any] = {
            **self.base_row,
            "episode": self.episode,
            "step": self.step + 1,
            "t_planned_ns": planned_ns,
            "t_tick_ns": t_tick_ns,
        }
        if self.turn is not None:
            row["turn_wait_ms"] = self.turn.waited_ms(now)
            self.turn.restart(now)
        actions: dict[str, int] = {}
        for agent in self.scene.players:
            actor = self.actors.get(agent)
            if actor is None:
                action, source, event = self.slots[agent].take_action()
                source = "timeout" if timed_out and source == "default" else source
                row |= input_columns(agent, event, with_recv=True)
            else:
                action = actor.act(self.observation)
                source = "fallback" if agent in self.takeovers else actor.source
            actions[agent] = action
            row[f"action_{agent}"] = action
            row[f"source_{agent}"] = source
        step_action: Any = actions if self.multi_agent else actions[self.human.agent]
        self.observation, reward, terminated, truncated, info = self.env.step(step_action)
        self.step += 1
        self.steps_shown[self.episode] = self.step
        truncated = bool(truncated) or self.step >= self.scene.max_steps
        columns, counted = step_columns(self.slots, self.observation, reward, terminated, truncated, info,
                                        self.record_observations)  # fmt: skip
        row |= columns
        self.score += counted
        if self.hooks.active:
            row |= self.hooks.step(self.step, actions, self.observation, reward, terminated, truncated, info)
            self._record_hook_error()
        self.record("steps", row)
        self.outbox.append((Event.STATE, self.frames.state(self, None)))
        if terminated or truncated:
            self._end_episode("terminated" if terminated else "truncated")
