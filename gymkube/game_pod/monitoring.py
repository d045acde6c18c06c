"""Monitoring during play: a participant whose round trip to the pod stays too slow is warned, then excluded.

The page measures its round trip to the pod every 2 seconds (net.js; bots every second). With
`spec.attention.maxRttMs`, a participant in a game whose round trips stay over the limit for
`warnAfterS` is warned (a notice, and an `rtt_warning` event), and after `excludeAfterS` ends with the
`excluded` ending (an `excluded` event with `why: connection`), through the same exclusion path as
every other rule (`ParticipantSession.exclude`). One round trip under the limit starts the clock
again (`rtt_recovered` when a warning was given). The warning always comes at least one measurement
before the exclusion, even when both times are equal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gymkube.game_pod.protocol import Event

if TYPE_CHECKING:
    from gymkube.game_pod.session import ParticipantSession


@dataclass
class ConnectionWatch:
    """Since when a participant's round trips have been over the limit, and whether they were warned."""

    over_since: float | None = None
    warned: bool = False

    def reset(self) -> None:
        """A round trip under the limit, or no game: the clock starts again."""
        self.over_since, self.warned = None, False


def watch_connection(session: ParticipantSession, rtt_ms: float) -> None:
    """Take one measured round trip of a participant into account: warn or exclude when the spec says so."""
    limits, watch, game = session.pod.spec.attention, session.connection, session.game
    if limits.max_rtt_ms is None or session.progress.status != "active":
        return
    if game is None or not game.is_active:
        watch.reset()
        return
    now = time.monotonic()
    if rtt_ms <= limits.max_rtt_ms:
        if watch.warned:
            over = now - (watch.over_since or now)
            session.pod.event(session, "rtt_recovered", {"game": game.id, "rtt_ms": round(rtt_ms, 1),
                                                         "over_s": round(over, 1)})  # fmt: skip
        watch.reset()
        return
    if watch.over_since is None:
        watch.over_since = now
    over = now - watch.over_since
    detail = {"game": game.id, "rtt_ms": round(rtt_ms, 1), "limit_ms": limits.max_rtt_ms, "over_s": round(over, 1)}
    if over >= limits.warn_after_s and not watch.warned:
        watch.warned = True
        session.pod.event(session, "rtt_warning", detail)
        left = max(1, round(limits.exclude_after_s - over))
        text = (
            f"Your connection to the study is slow right now (a round trip takes {round(rtt_ms)} ms). Please "
            f"close other tabs, downloads or video calls. If it stays this slow, the study ends in about {left} s."
        )
        session.pod.spawn(session.emit(Event.NOTICE, {"text": text}))
    elif over >= limits.exclude_after_s and watch.warned:
        session.exclude("excluded", {"by": "connection"} | detail)
