"""Who is here now: the sessions a pod counts against its capacity, and when a session leaves its memory.

A participant is here while connected and not finished, or while away but holding a seat in a
running game (the grace period). Admission, the `/load` report and so the router count exactly
these. A participant who is gone (disconnected, no game held) leaves the pod's memory after
`LINGER_S`; their progress is in storage (saved with the next chunk, and read from memory until
then), so coming back loads it again. A finished participant (completed or ended) no longer
counts; their page is hung up after `FINISHED_LINGER_S` (it keeps showing the code), and then
they leave memory too. So a pod that served any number of participants one after another holds
only those here now.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gymkube.game_pod.pod import Pod
    from gymkube.game_pod.session import ParticipantSession

log = logging.getLogger(__name__)

LINGER_S = 10.0
"""A session stays in memory this long after its page left (a reload comes back within it)."""
FINISHED_LINGER_S = 30.0
"""A finished participant's page is hung up this long after the end (it keeps showing the code)."""
SWEEP_EVERY_S = 1.0


def is_here(session: ParticipantSession) -> bool:
    """Counts against capacity: connected and not finished, or away but holding a seat in a running game."""
    if session.progress.status != "active":
        return False
    return session.sid is not None or (session.game is not None and session.game.is_active)


def is_gone(session: ParticipantSession, now: float) -> bool:
    """Disconnected for `LINGER_S`, holding no game seat, nothing of theirs under way: may leave memory."""
    return (
        session.sid is None
        and not session.grace_pending
        and (session.game is None or not session.game.is_active)
        and not session.busy
        and now - session.left_at >= LINGER_S
    )


def sweep(pod: Pod, now: float) -> list[str]:
    """Let gone sessions leave memory; the connections of participants finished long enough to hang up."""
    hang_up = []
    for session in list(pod.sessions.values()):
        if session.sid is None:
            if is_gone(session, now):
                pod.evict(session)
        elif session.progress.status != "active":
            if session.finished_at is None:
                session.finished_at = now
            elif now - session.finished_at >= FINISHED_LINGER_S:
                hang_up.append(session.sid)
    return hang_up


async def keep_sessions_current(pod: Pod) -> None:
    """Sweep every `SWEEP_EVERY_S` for as long as the pod runs."""
    while True:
        await asyncio.sleep(SWEEP_EVERY_S)
        try:
            for sid in sweep(pod, time.monotonic()):
                await pod.sio.disconnect(sid)
        except Exception as exc:  # a bug here must not stop the sweeps (memory would grow)
            pod.error("the session sweep failed", repr(exc))
