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


PAD_PREFIX = "pad:"
"""Gamepad buttons and stick directions reach the game as keys with this prefix (`pad:b0`, `pad:a1+`); no keyboard
key has it (see gymkube/spec/controls.py)."""
MAX_QUEUED = 8
"""Presses waiting for a step in `tap` and `turn` modes; more are ignored (a burst, not play)."""


@dataclass(frozen=True)
class Binding:
    """An action and the keys held together for it (one key, or a combination such as ArrowUp+ArrowLeft)."""

    keys: frozenset[str]
    action: int
    source: str


def bindings(keys: dict[str, int]) -> list[Binding]:
    """The controls as bindings, most keys first (a combination wins over its parts)."""
    out = []
    for combo, action in keys.items():
        parts = frozenset(combo.split("+"))
        source = "gamepad" if any(p.startswith(PAD_PREFIX) for p in parts) else "human"
        out.append(Binding(parts, action, source))
    return sorted(out, key=lambda b: -len(b.keys))


@dataclass
class HumanSlot:
    """Turns key downs/ups into one action per tick, as the scene's `controls.mode` says.

    `held` (default): a held key repeats its action every tick; the newest key pressed since the last
    tick counts for that tick even if it was already released (so short taps are never lost, even
    while another key is held). `tap`: each press is one action, taken by the next tick that has none
    yet; a held key does not repeat. `turn`: as `tap`, and the game waits for a press (`ready`) before
    each step. Keys held together match a combination (`ArrowUp+ArrowLeft`), which wins over its parts;
    gamepad keys (`pad:...`) record the source `gamepad`. With no press, the default action applies
    (`previous` repeats the last action) and the step records the source as `default`. While the
    participant is away (a group game plays on through their grace period) the default applies and
    the step records `absent`.
    """

    agent: str
    keys: dict[str, int]
    default: int | str
    mode: str = "held"
    held: list[str] = field(default_factory=list)
    tapped: tuple[int, str] | None = None
    queue: list[tuple[Binding, InputEvent]] = field(default_factory=list)
    previous: int = 0
    last_seq: int = -1
    newest: InputEvent | None = None
    ignored: int = 0
    present: bool = True

    def __post_init__(self) -> None:
        self.bindings = bindings(self.keys)
        self.parts = {key for binding in self.bindings for key in binding.keys}

    def _match(self) -> Binding | None:
        """The binding of the keys held now: the most keys, then the one with the newest key."""
        held = set(self.held)
        best: Binding | None = None
        best_rank = (-1, -1)
        for binding in self.bindings:
            if binding.keys <= held:
                rank = (len(binding.keys), max(self.held.index(k) for k in binding.keys))
                if rank > best_rank:
                    best, best_rank = binding, rank
        return best

    def on_input(self, key: Any, down: Any, seq: Any, client_ms: Any, frame: Any, frame_ms: Any = None) -> bool:
        """Apply one input event; False when it is not a valid one (it is then ignored)."""
        if key not in self.parts or not isinstance(down, bool) or not is_count(seq):
            self.ignored += 1
            return False
        if seq <= self.last_seq:
            self.ignored += 1
            return False
        self.last_seq = seq
        event = InputEvent(seq=seq, recv_ns=time.time_ns(), client_ms=client_time(client_ms),
                           frame=frame if is_count(frame) else None, frame_ms=client_time(frame_ms))  # fmt: skip
        if key in self.held:
            self.held.remove(key)
        if self.mode == "held":
            self.newest = event
        if not down:
            return True
        self.held.append(key)
        binding = self._match()
        if binding is None:
            return True
        if self.mode == "held":
            self.tapped = (binding.action, binding.source)
        elif self.queue and self.queue[-1][0].keys < binding.keys:
            self.queue[-1] = (binding, event)  # the rest of a combination, pressed before a step took its start
        elif len(self.queue) < MAX_QUEUED:
            self.queue.append((binding, event))
        else:
            self.ignored += 1
        return True

    @property
    def ready(self) -> bool:
        """Whether a press waits for a step (`turn` mode steps only then), or the seat need not be waited for."""
        return bool(self.queue) or not self.present

    def release_all(self) -> None:
        """Forget held keys and unconsumed input (a new episode, or the participant left)."""
        self.held.clear()
        self.tapped = None
        self.queue.clear()
        self.newest = None

    def take_action(self) -> tuple[int, str, InputEvent | None]:
        """This tick's action, its source (`human`, `gamepad` or `default`) and the input behind it."""
        if self.mode == "held":
            consumed, self.newest = self.newest, None
        else:
            consumed = None
        if not self.present:
            action = self.previous if self.default == "previous" else int(self.default)
            self.tapped, self.previous = None, action
            self.queue.clear()
            return action, "absent", None
        if self.mode != "held":
            if self.queue:
                pressed, consumed = self.queue.pop(0)
                action, source = pressed.action, pressed.source
            else:
                action, source = self._default(), "default"
        elif self.tapped is not None:
            action, source = self.tapped
        elif (binding := self._match()) is not None:
            action, source = binding.action, binding.source
        else:
            action, source = self._default(), "default"
        self.tapped = None
        self.previous = action
        return action, source, consumed

    def _default(self) -> int:
        return self.previous if self.default == "previous" else int(self.default)


@dataclass
class TurnClock:
    """`turn` mode: when the game began waiting for its players' presses, and whether it may wait longer."""

    timeout_s: float
    since_s: float = 0.0

    def restart(self, now_s: float) -> None:
        """A step was played (or the episode began, or play resumed): wait from now."""
        self.since_s = now_s

    def waited_ms(self, now_s: float) -> float:
        """How long the game has waited, in ms (the step's `turn_wait_ms`)."""
        return round((now_s - self.since_s) * 1000.0, 3)

    def expired(self, now_s: float) -> bool:
        """The longest wait is over: step with the default action for whoever has not pressed."""
        return now_s - self.since_s >= self.timeout_s
