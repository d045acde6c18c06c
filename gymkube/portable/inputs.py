"""A human's keyboard state on the server: held keys, taps between ticks, and their timing."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, TypeGuard

MAX_COUNT = 2**53
"""Counts from a browser are below this: the largest integer a JavaScript number holds exactly (and an int64 column)."""


def client_time(value: Any) -> float | None:
    """A client number (a timestamp in ms since the epoch, a reward) as a float, or None when it is not a finite one."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)  # an int beyond a float's range raises here
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def is_count(value: Any) -> TypeGuard[int]:
    """An int in 0 <= n < 2**53 (not a bool): a step, episode, action or sequence number from the client."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_COUNT


@dataclass
class InputEvent:
    """The newest input a step consumed, for reaction-time analysis."""

    seq: int
    recv_ns: int
    client_ms: float | None
    frame: int | None
    frame_ms: float | None = None


def input_columns(agent: str, event: InputEvent | None, with_recv: bool = False) -> dict[str, Any]:
    """The step row's columns for the input a step consumed (all None when it consumed none).

    `with_recv`: also the pod's receive time (server mode; a browser game's keys never reach the pod).
    """
    columns: dict[str, Any] = {f"input_seq_{agent}": event.seq if event else None}
    if with_recv:
        columns[f"input_recv_ns_{agent}"] = event.recv_ns if event else None
    columns[f"input_client_ms_{agent}"] = event.client_ms if event else None
    columns[f"input_frame_{agent}"] = event.frame if event else None
    columns[f"input_frame_ms_{agent}"] = event.frame_ms if event else None
    return columns


@dataclass
class HumanSlot:
    """Turns key downs/ups into one action per tick.

    A held key repeats its action every tick; the newest key pressed since the last tick
    counts for that tick even if it was already released (so short taps are never lost, even
    while another key is held); with no key, the default action applies (`previous` repeats
    the last action) and the step records the source as `default`. While the participant is
    away (a group game plays on through their grace period) the default applies and the step
    records `absent`.
    """

    agent: str
    keys: dict[str, int]
    default: int | str
    held: list[str] = field(default_factory=list)
    tapped: int | None = None
    previous: int = 0
    last_seq: int = -1
    newest: InputEvent | None = None
    ignored: int = 0
    present: bool = True

    def on_input(self, key: Any, down: Any, seq: Any, client_ms: Any, frame: Any, frame_ms: Any = None) -> bool:
        """Apply one input event; False when it is not a valid one (it is then ignored)."""
        if key not in self.keys or not isinstance(down, bool) or not is_count(seq):
            self.ignored += 1
            return False
        if seq <= self.last_seq:
            self.ignored += 1
            return False
        self.last_seq = seq
        if down:
            if key in self.held:
                self.held.remove(key)
            self.held.append(key)
            self.tapped = self.keys[key]
        elif key in self.held:
            self.held.remove(key)
        self.newest = InputEvent(
            seq=seq,
            recv_ns=time.time_ns(),
            client_ms=client_time(client_ms),
            frame=frame if is_count(frame) else None,
            frame_ms=client_time(frame_ms),
        )
        return True

    def release_all(self) -> None:
        """Forget held keys and unconsumed input (a new episode, or the participant left)."""
        self.held.clear()
        self.tapped = None
        self.newest = None

    def take_action(self) -> tuple[int, str, InputEvent | None]:
        """This tick's action, its source (`human` or `default`) and the input behind it."""
        consumed, self.newest = self.newest, None
        if not self.present:
            action = self.previous if self.default == "previous" else int(self.default)
            self.tapped, self.previous = None, action
            return action, "absent", None
        if self.tapped is not None:
            action, source = self.tapped, "human"
        elif self.held:
            action, source = self.keys[self.held[-1]], "human"
        elif self.default == "previous":
            action, source = self.previous, "default"
        else:
            action, source = int(self.default), "default"
        self.tapped = None
        self.previous = action
        return action, source, consumed
