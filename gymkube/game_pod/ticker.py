"""The fixed tick: one loop per frame rate steps every game due, on absolute deadlines.

Ticks are planned as t0 + k * period and never wait for a client; work done in a tick does
not push the next one back (prior tools slept a full frame after the work and so never
reached their frame rate). When the loop falls more than a few frames behind it re-plans
from now and counts the overrun, rather than bursting to catch up.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from gymkube.game_pod.game import Game

log = logging.getLogger(__name__)

Sender = Callable[[Game, list[tuple[str, dict[str, Any]]]], Awaitable[None]]


class Ticker:
    """Steps a set of games at one fps and hands each game's messages to `send`."""

    def __init__(self, fps: int, send: Sender) -> None:
        self.fps = fps
        self.period_ns = 1_000_000_000 // fps
        self.games: dict[str, Game] = {}
        self.send = send
        self.overruns = 0
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None

    def add(self, game: Game) -> None:
        """Start stepping a game (the loop starts with the first game)."""
        self.games[game.id] = game
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"tick{self.fps}")

    def remove(self, game: Game) -> None:
        """Stop stepping a game."""
        self.games.pop(game.id, None)

    async def flush_outbox(self, game: Game) -> None:
        """Send a game's pending messages now (used outside the tick, e.g. on reconnect)."""
        if game.outbox:
            messages, game.outbox = game.outbox, []
            await self.send(game, messages)

    async def _run(self) -> None:
        mono0 = time.monotonic_ns()
        wall0 = time.time_ns()
        k = 0
        while self.games:
            deadline = mono0 + k * self.period_ns
            delay = deadline - time.monotonic_ns()
            if delay > 0:
                await asyncio.sleep(delay / 1e9)
            elif -delay > 5 * self.period_ns:
                self.overruns += 1
                log.warning("tick loop at %d fps is %.0f ms behind; re-planning", self.fps, -delay / 1e6)
                mono0, wall0, k = time.monotonic_ns(), time.time_ns(), 0
                deadline = mono0
            planned_ns = wall0 + (deadline - mono0)
            sends = []
            for game in list(self.games.values()):
                try:
                    game.tick(planned_ns)
                except Exception:
                    log.exception("game %s failed in its tick; stopping it", game.id)
                    game.stop("error")
                    self.games.pop(game.id, None)
                    game.fail()
                if game.outbox:
                    messages, game.outbox = game.outbox, []
                    sends.append(self.send(game, messages))
            if sends:
                await asyncio.gather(*sends, return_exceptions=True)
            self.ticks += 1
            k += 1

    async def close(self) -> None:
        """Stop the loop."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
