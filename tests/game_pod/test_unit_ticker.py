"""The tick loop spreads its games over the period: each game steps once a period, on its own deadlines."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

from gymkube.game_pod.ticker import Ticker

FPS = 30
PERIOD_NS = 1_000_000_000 // FPS


class CountingGame:
    """What the ticker needs of a game: an id, `tick(planned_ns)` and an outbox."""

    def __init__(self, game_id: str) -> None:
        self.id = game_id
        self.planned: list[int] = []
        self.outbox: list[tuple[str, dict[str, Any]]] = []

    def tick(self, planned_ns: int) -> None:
        self.planned.append(planned_ns)
        self.outbox.append(("state", {"f": len(self.planned)}))


async def run(ticker: Ticker, games: list[CountingGame], ticks: int) -> None:
    for game in games:
        ticker.add(game)  # type: ignore[arg-type]
    for _ in range(200):  # bounded: about 6 s at most
        if min(len(g.planned) for g in games) >= ticks:
            break
        await asyncio.sleep(PERIOD_NS / 1e9)
    await ticker.close()


async def test_games_are_spread_over_the_period_and_each_steps_once_per_period():
    sent: list[str] = []
    ticker = Ticker(FPS, lambda game, messages: sent.append(game.id))  # type: ignore[arg-type,func-returns-value]
    assert ticker.phases == 4
    games = [CountingGame(f"g{i}") for i in range(10)]
    await run(ticker, games, 6)
    for game in games:
        gaps = {b - a for a, b in itertools.pairwise(game.planned)}
        assert gaps <= {PERIOD_NS - 1, PERIOD_NS, PERIOD_NS + 1}, f"{game.id} stepped once per period: {gaps}"
    first = min(g.planned[0] for g in games)
    offsets = [(g.planned[0] - first) % PERIOD_NS for g in games]
    by_phase = {offset: offsets.count(offset) for offset in sorted(set(offsets))}
    assert len(by_phase) == 4, f"four moments of the period: {by_phase}"
    assert sorted(by_phase.values()) == [2, 2, 3, 3], "each game joins the least crowded phase"
    assert all(abs(offset - k * PERIOD_NS // 4) <= 1 for k, offset in enumerate(by_phase)), by_phase
    assert sent.count("g0") >= 6, "every tick's messages are handed on"


async def test_a_game_that_leaves_frees_its_place_for_the_next_one():
    ticker = Ticker(FPS, lambda game, messages: None)  # type: ignore[arg-type,return-value]
    games = [CountingGame(f"g{i}") for i in range(4)]
    for game in games:
        ticker.add(game)  # type: ignore[arg-type]
    ticker.remove(games[2])  # type: ignore[arg-type]
    newcomer = CountingGame("new")
    ticker.add(newcomer)  # type: ignore[arg-type]
    assert [sorted(phase) for phase in ticker.phase_games] == [["g0"], ["g1"], ["new"], ["g3"]]
    await ticker.close()


def test_a_fast_frame_rate_has_fewer_phases():
    assert Ticker(60, lambda g, m: None).phases == 2  # type: ignore[arg-type,return-value]
    assert Ticker(120, lambda g, m: None).phases == 1  # type: ignore[arg-type,return-value]
    assert Ticker(30, lambda g, m: None, phases=1).phases == 1  # type: ignore[arg-type,return-value]
