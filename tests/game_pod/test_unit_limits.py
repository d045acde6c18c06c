"""Rate limits and budgets: honest clients are never throttled, floods and loops are noticed and bounded."""

from __future__ import annotations

import pytest

from gymkube.game_pod import limits
from gymkube.game_pod.limits import ParticipantBudget, RateLimiter, count_ignored


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(limits.time, "monotonic", fake)
    return fake


def limiter(clock: Clock) -> RateLimiter:
    return RateLimiter(stamp=clock.now, window_start=clock.now)


def test_a_steady_sixty_events_a_second_is_never_dropped_or_called_a_flood(clock):
    rate = limiter(clock)
    results = []
    for _ in range(60 * 30):
        clock.now += 1 / 60
        results.append(rate.allow())
        assert not rate.flooding
    assert all(results) and rate.dropped == 0


def test_a_burst_beyond_the_bucket_is_dropped_and_counted(clock):
    rate = limiter(clock)
    results = [rate.allow() for _ in range(300)]  # all at the same instant
    assert results.count(True) == 240
    assert results[240:] == [False] * 60
    assert rate.dropped == 60
    assert not rate.flooding


def test_the_bucket_refills_at_its_rate_after_a_burst(clock):
    rate = limiter(clock)
    for _ in range(240):
        rate.allow()
    assert rate.allow() is False
    clock.now += 0.5  # 60 tokens at 120/s
    results = [rate.allow() for _ in range(61)]
    assert results.count(True) == 60 and results[-1] is False


def test_more_events_in_one_second_than_the_flood_limit_is_reported_as_flooding(clock):
    rate = limiter(clock)
    for _ in range(600):
        clock.now += 0.001
        rate.allow()
    assert not rate.flooding
    rate.allow()
    assert rate.flooding


def test_flooding_is_forgotten_once_a_new_second_begins(clock):
    rate = limiter(clock)
    for _ in range(700):
        rate.allow()
    assert rate.flooding
    clock.now += 1.0
    rate.allow()
    assert not rate.flooding


def test_a_participants_frame_budget_takes_an_honest_second_of_sixty_frames_forever_but_not_a_flood(clock):
    budget = ParticipantBudget()
    for _ in range(600):  # ten minutes of one report a second with 60 frames
        clock.now += 1.0
        assert budget.frame_reports.take() and budget.frame_rows.take(60)
    assert budget.frame_rows.take(limits.FRAME_ROWS_BURST - 60)  # a tab that could not report for a while
    assert not budget.frame_rows.take(600), "a second burst at once is over the budget"
    clock.now += 600 / limits.FRAME_ROWS_PER_S
    assert budget.frame_rows.take(600)


def test_a_participant_reconnecting_in_a_loop_runs_out_of_connections_and_gets_them_back_slowly(clock):
    budget = ParticipantBudget()
    taken = [budget.connects.take() for _ in range(50)]
    assert taken.count(True) == limits.CONNECTS_BURST
    clock.now += 60
    assert [budget.connects.take() for _ in range(20)].count(True) == 10


def test_ignored_messages_are_counted_by_kind_and_reported_once_with_unknown_names_bounded():
    counts: dict[str, int] = {}
    assert count_ignored(counts, "malformed:input") and not count_ignored(counts, "malformed:input")
    firsts = [count_ignored(counts, f"unknown:event{i}") for i in range(100)]
    assert firsts.count(True) == limits.MAX_IGNORED_KINDS + 1  # the rest share one count, reported once
    assert counts["malformed:input"] == 2 and counts["unknown:*"] == 100 - limits.MAX_IGNORED_KINDS
    assert len(counts) == limits.MAX_IGNORED_KINDS + 2
