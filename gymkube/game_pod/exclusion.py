"""A researcher's own exclusion rule (`spec.exclusion.hook: module:fn`), called on the pod with what it measured.

The pod is where a participant's telemetry is: round trips from the pings, focus and visibility
reports, connects and drops. The function is called once at entry (at the first round trip measured
on this pod, or three seconds after the connection when the page measures none) and every
`spec.exclusion.everyS` while the participant plays a game, with one dict (`measures` says what is in
it). It returns nothing (or False) to let the participant go on, or ends their session:

- `True`: the `excluded` ending;
- text: the `excluded` ending, with this message (HTML, sanitised) instead of the ending's own;
- `{"ending": "excluded", "message": "...", "reason": "..."}`: any of `spec.endings` (camelCase or
  snake_case), an optional message, and a short reason recorded in the `excluded` event.

The function runs on the pod's event loop between ticks: it must return quickly. One that raises or
returns something else is logged and recorded once per participant (`hook_error`), and the participant
goes on.
"""

from __future__ import annotations

import asyncio
import logging
import statistics
import time
import traceback
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic.alias_generators import to_snake

from gymkube.portable.common import import_entry_point
from gymkube.spec.experiment import Endings

if TYPE_CHECKING:
    from gymkube.game_pod.pod import Pod
    from gymkube.game_pod.session import ParticipantSession

log = logging.getLogger(__name__)

ENTRY_WAIT_S = 3.0
"""Without a round trip measured by then, the entry check runs without one."""
RECENT_LATENCIES = 10
MAX_MESSAGE_CHARS, MAX_REASON_CHARS = 4000, 200
ENDINGS = set(Endings.model_fields)


@dataclass
class Checked:
    """Where one participant's checks stand on this pod."""

    connected_at: float
    entry_done: bool = False
    last_play: float = 0.0
    error_recorded: bool = False


def measures(session: ParticipantSession, phase: str) -> dict[str, Any]:
    """What the exclusion function is called with."""
    p = session.progress
    recent = p.latency_ms[-RECENT_LATENCIES:]
    game = session.game
    return {
        "phase": phase,
        "participant": p.participant,
        "scene": p.current,
        "latency_ms": statistics.median(recent) if recent else None,
        "latencies_ms": list(recent),
        "visibility_losses": p.visibility_losses,
        "focus_losses": p.focus_losses,
        "hidden": not session.page_visible,
        "focused": session.window_focused,
        "connects": p.connects,
        "drops": p.drops,
        "seconds_in_study": round((time.time_ns() - p.t_start_ns) / 1e9, 3),
        "client": dict(p.client),
        "url_params": dict(p.url_params),
        "game": {"id": game.id, "episode": game.episode, "step": game.step, "mode": game.scene.mode}
        if game is not None and game.is_active
        else None,
    }


class ExclusionCheck:
    """Calls the experiment's exclusion function for the participants on this pod, and acts on its answer."""

    def __init__(self, pod: Pod, entry_point: str) -> None:
        self.pod = pod
        self.function: Callable[[dict[str, Any]], Any] = import_entry_point(entry_point, pod.bundle_dir)
        self.every_s = pod.spec.exclusion.every_s
        self.state: weakref.WeakKeyDictionary[ParticipantSession, Checked] = weakref.WeakKeyDictionary()

    def _state(self, session: ParticipantSession) -> Checked:
        if session not in self.state:
            self.state[session] = Checked(time.monotonic())
        return self.state[session]

    def on_latency(self, session: ParticipantSession) -> None:
        """A round trip was measured: the entry check runs at the first one."""
        checked = self._state(session)
        if not checked.entry_done:
            checked.entry_done = True
            self.check(session, "entry")

    def sweep(self, now: float) -> None:
        """Entry checks still due without a round trip, and the checks of everyone playing."""
        for session in list(self.pod.sessions.values()):
            if session.sid is None or session.progress.status != "active":
                continue
            checked = self._state(session)
            if not checked.entry_done:
                if now - checked.connected_at >= ENTRY_WAIT_S:
                    checked.entry_done = True
                    self.check(session, "entry")
            elif session.game is not None and session.game.is_active and now - checked.last_play >= self.every_s:
                checked.last_play = now
                self.check(session, "play")

    def check(self, session: ParticipantSession, phase: str) -> None:
        """Call the function for one participant; end their session when it says so."""
        if session.progress.status != "active":
            return
        try:
            verdict = self.function(measures(session, phase))
            exclusion = self._exclusion(verdict)
        except Exception as exc:
            where = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
            line = f" ({where.filename.rsplit('/', 1)[-1]}:{where.lineno})" if where else ""
            self._failed(session, f"{type(exc).__name__}: {exc}{line}")
            return
        if exclusion is not None:
            ending, message, reason = exclusion
            session.exclude(ending, {"by": "hook", "phase": phase, "reason": reason}, message)

    @staticmethod
    def _exclusion(verdict: Any) -> tuple[str, str | None, str | None] | None:
        """(ending, message, reason) from what the function returned, or None to go on; ValueError otherwise."""
        if verdict is None or verdict is False:
            return None
        if verdict is True:
            return "excluded", None, None
        if isinstance(verdict, str):
            return "excluded", verdict[:MAX_MESSAGE_CHARS], None
        if isinstance(verdict, dict):
            ending = to_snake(str(verdict.get("ending") or "excluded"))
            if ending not in ENDINGS:
                raise ValueError(f"returned the ending {ending!r}; the endings are {sorted(ENDINGS)}")
            message, reason = verdict.get("message"), verdict.get("reason")
            return (ending, str(message)[:MAX_MESSAGE_CHARS] if message is not None else None,
                    str(reason)[:MAX_REASON_CHARS] if reason is not None else None)  # fmt: skip
        raise ValueError(f"returned a {type(verdict).__name__}; None, True, a message or a dict are understood")

    def _failed(self, session: ParticipantSession, problem: str) -> None:
        checked = self._state(session)
        if checked.error_recorded:
            return
        checked.error_recorded = True
        log.warning("the exclusion hook failed for %s: %s", session.progress.participant, problem)
        self.pod.event(session, "hook_error", {"method": "exclusion", "error": problem[:500]})

    async def keep_checking(self) -> None:
        """Sweep every second for as long as the pod runs."""
        while True:
            await asyncio.sleep(1.0)
            try:
                self.sweep(time.monotonic())
            except Exception as exc:  # a bug here must not stop the checks
                self.pod.error("the exclusion checks failed", repr(exc))
