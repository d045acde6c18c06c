"""The fixed tick: one loop per frame rate steps every game due, on absolute deadlines.

Ticks are planned as t0 + k * period and never wait for a client; work done in a tick does
not push the next one back (prior tools slept a full frame after the work and so never
reached their frame rate). When the loop falls more than a few frames behind it re-plans
from now and counts the overrun, rather than bursting to catch up.

The garbage collector runs when Python decides, in the middle of a tick: its full collections
walk every tracked object (after the imports of gymnasium, pyarrow and onnxruntime that took
tens of milliseconds), which showed as a 60 ms p99 frame gap at 100 sessions. So while games
run, collection is paced by the tick loop instead (`GcPacer`): what was alive when the first
loop started is frozen out of the collector's reach once, automatic collection is off, and each
tick that leaves enough time before the next deadline collects the young generation (the middle
one every 10th time, everything every 3000th). A loop that never has the time still collects
once allocations pile up. Automatic collection is back when the last loop stops.

Games are spread over the period (`Ticker`), in a few phases a few milliseconds apart, rather
than all stepped in one burst: inputs are read between the phases, so at 300 sessions on a core
an input sent on a frame is in before its game's next step.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from gymkube.game_pod.game import Game

log = logging.getLogger(__name__)

Sender = Callable[[Game, list[tuple[str, dict[str, Any]]]], Awaitable[None] | None]
"""Sends a game's messages: at once (None), or as an awaitable for what must wait (see `Fanout.send` in fanout.py)."""
LatenessWatch = Callable[[int], None]
"""Told, once per tick, how many nanoseconds after its planned time the tick started (the pod's metrics)."""


class GcPacer:
    """Garbage collection at moments the tick loops choose (see the module docstring)."""

    MIN_SLACK_NS = 6_000_000
    """Collect only when at least this long is left before the next tick is due."""
    OVERDUE_ALLOCATIONS = 200_000
    """Collect anyway once this many container objects were allocated since the last collection."""
    FULL_EVERY = 3000
    """Every this many collections (at most every 100 s at 30 fps), a full one: with 300 sessions on a pod
    a full collection takes 17-45 ms, a stall every session sees, so it is rare; cyclic garbage waits for it."""

    def __init__(self) -> None:
        self.loops = 0
        self.frozen = False
        self.collections = 0

    def start(self) -> None:
        """A tick loop starts: the first one freezes what exists and turns automatic collection off."""
        if not self.frozen:
            gc.freeze()
            self.frozen = True
        self.loops += 1
        gc.disable()

    def stop(self) -> None:
        """A tick loop ends: with none left, Python collects on its own again."""
        self.loops = max(0, self.loops - 1)
        if self.loops == 0:
            gc.enable()

    def tick_done(self, next_deadline_ns: int) -> None:
        """Collect if there is time before `next_deadline_ns` (monotonic) or collection is overdue."""
        slack = next_deadline_ns - time.monotonic_ns()
        if slack < self.MIN_SLACK_NS and gc.get_count()[0] < self.OVERDUE_ALLOCATIONS:
            return
        self.collections += 1
        gc.collect(2 if self.collections % self.FULL_EVERY == 0 else 1 if self.collections % 10 == 0 else 0)


GC = GcPacer()


class Ticker:
    """Steps a set of games at one fps and hands each game's messages to `send`.

    The games are spread over `phases` evenly spaced moments of the period (a game joins the phase
    with the fewest games and stays there), so a pod with hundreds of games does not step them all
    in one burst: between two phases the loop reads the inputs that came in, and an input sent
    right after a frame is in before its game's next step even with the core nearly full. Each
    game still steps once a period, on its own absolute deadlines.
    """

    PHASE_SPACING_MS = 8
    """About how far apart the phases are: 4 phases at 30 fps, 2 at 60, 1 at 120 and above."""

    def __init__(self, fps: int, send: Sender, watch: LatenessWatch | None = None, phases: int | None = None) -> None:
        self.fps = fps
        self.period_ns = 1_000_000_000 // fps
        self.phases = phases or max(1, self.period_ns // (self.PHASE_SPACING_MS * 1_000_000))
        self.games: dict[str, Game] = {}
        self.phase_games: list[dict[str, Game]] = [{} for _ in range(self.phases)]
        self.send = send
        self.watch = watch
        self.overruns = 0
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    def add(self, game: Game) -> None:
        """Start stepping a game in the least crowded phase (the loop starts with the first game)."""
        if game.id not in self.games:
            min(self.phase_games, key=len)[game.id] = game
        self.games[game.id] = game
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"tick{self.fps}")

    def remove(self, game: Game) -> None:
        """Stop stepping a game."""
        self.games.pop(game.id, None)
        for phase in self.phase_games:
            phase.pop(game.id, None)

    async def _run(self) -> None:
        GC.start()
        try:
            await self._loop()
        finally:
            GC.stop()

    def _deadline(self, mono0: int, m: int) -> int:
        """When sub-tick `m` (phase m % phases of period m // phases) is due."""
        return mono0 + (m // self.phases) * self.period_ns + (m % self.phases) * self.period_ns // self.phases

    async def _loop(self) -> None:
        mono0 = time.monotonic_ns()
        wall0 = time.time_ns()
        m = period = 0
        while self.games:
            for _ in range(self.phases - 1):  # skip phases with no game
                if self.phase_games[m % self.phases]:
                    break
                m += 1
            deadline = self._deadline(mono0, m)
            delay = deadline - time.monotonic_ns()
            if delay > 0:
                await asyncio.sleep(delay / 1e9)
                if self.watch is not None:
                    self.watch(time.monotonic_ns() - deadline)
            elif self.watch is not None:
                self.watch(-delay)
            if -delay > 5 * self.period_ns:
                self.overruns += 1
                log.warning("tick loop at %d fps is %.0f ms behind; re-planning", self.fps, -delay / 1e6)
                since0 = self._deadline(0, m)  # the plan moves so that this sub-tick is due now
                mono0, wall0 = time.monotonic_ns() - since0, time.time_ns() - since0
                deadline = self._deadline(mono0, m)
            planned_ns = wall0 + (deadline - mono0)
            sends = []
            for game in list(self.phase_games[m % self.phases].values()):
                try:
                    game.tick(planned_ns)
                except Exception:
                    log.exception("game %s failed in its tick; stopping it", game.id)
                    game.stop("error")
                    self.remove(game)
                    game.fail()
                if game.outbox:
                    messages, game.outbox = game.outbox, []
                    pending = self.send(game, messages)
                    if pending is not None:
                        sends.append(pending)
            if sends:
                await asyncio.gather(*sends, return_exceptions=True)
            await asyncio.sleep(0)  # the sockets write this tick's frames first
            m += 1
            if m // self.phases != period:  # once a period, as before the games were spread over it
                period = m // self.phases
                self.ticks += 1
                GC.tick_done(self._deadline(mono0, m))

    async def close(self) -> None:
        """Stop the loop."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
