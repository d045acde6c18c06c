"""Budgets for what a browser may send: per connection (a token bucket and a flood ceiling) and per participant.

Per connection, every event costs a token; excess events are dropped and a flood disconnects the
sender. Per participant (for as long as their session is on this pod), each kind of message has
its own budget sized to what an honest page sends, and rows from telemetry are capped: whatever a
modified page sends, it cannot write more than these into the data. What a budget turns away is
counted in the participant's `ignored_events` (sessions table) and recorded once per kind.
The "Limits and what hostile input gets" table in docs/security.md lists these numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

MAX_ERROR_ROWS = 20
"""`client_error` rows per participant (the page reports at most 20 distinct errors)."""
MAX_ATTENTION_ROWS = 100
"""`hidden` rows and `blur` rows per participant (the counts in the sessions table go on counting)."""
MAX_IGNORED_KINDS = 16
"""Distinct unknown event names counted by name per participant; the rest are counted together."""
FRAME_ROWS_PER_S = 90.0
"""Draw times a participant may report per second on average (the fastest scene runs at 60 fps)."""
FRAME_ROWS_BURST = 700.0
"""... and at once (a tab that could not report keeps its newest 600)."""
FRAME_REPORTS_PER_S, FRAME_REPORTS_BURST = 4.0, 20.0
"""`frames` reports: one a second per game episode on screen, plus one at each scene change."""
SIGNALS_PER_S, SIGNALS_BURST = 5.0, 100.0
"""WebRTC signalling messages (a handshake is a few descriptions and some dozens of ICE candidates)."""
PROBE_MESSAGES_PER_S, PROBE_MESSAGES_BURST = 10.0, 200.0
"""Signalling messages and results of peer probes in a waiting room (a browser runs two probes at a time)."""
RELAY_CHARS_PER_S, RELAY_CHARS_BURST = 256 * 1024.0, 1024 * 1024.0
"""p2p packets relayed through the pod, in characters (inputs at 60 fps, now and then a state for a resync)."""
UNITY_ROWS_PER_S, UNITY_ROWS_BURST = 120.0, 3000.0
"""Entries a Unity build may report per second (steps at up to 60 a second, plus a resend after a reconnect)."""
CONNECTS_PER_S, CONNECTS_BURST = 1 / 6, 20.0
"""Connections per participant (reloads, dropped networks): ten a minute after the first twenty."""


@dataclass
class TokenBucket:
    """`rate` tokens a second up to `burst`; taking more than there are is refused."""

    rate: float
    burst: float
    tokens: float = field(init=False)
    stamp: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens, self.stamp = self.burst, time.monotonic()

    def take(self, amount: float = 1.0) -> bool:
        """Whether `amount` may pass now (it is taken if so)."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if amount > self.tokens:
            return False
        self.tokens -= amount
        return True


@dataclass
class RateLimiter:
    """A token bucket per connection plus a hard ceiling per second."""

    rate: float = 120.0
    burst: float = 240.0
    flood_per_s: int = 600
    tokens: float = field(default=240.0)
    stamp: float = field(default_factory=time.monotonic)
    window_start: float = field(default_factory=time.monotonic)
    window_count: int = 0
    dropped: int = 0

    def allow(self) -> bool:
        """Whether to handle this event."""
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if now - self.window_start >= 1.0:
            self.window_start, self.window_count = now, 0
        self.window_count += 1
        if self.tokens < 1:
            self.dropped += 1
            return False
        self.tokens -= 1
        return True

    @property
    def flooding(self) -> bool:
        """More events in the last second than any honest client sends."""
        return self.window_count > self.flood_per_s


@dataclass
class ParticipantBudget:
    """What one participant may still send, whichever connection it comes on."""

    frame_rows: TokenBucket = field(default_factory=lambda: TokenBucket(FRAME_ROWS_PER_S, FRAME_ROWS_BURST))
    frame_reports: TokenBucket = field(default_factory=lambda: TokenBucket(FRAME_REPORTS_PER_S, FRAME_REPORTS_BURST))
    signals: TokenBucket = field(default_factory=lambda: TokenBucket(SIGNALS_PER_S, SIGNALS_BURST))
    probes: TokenBucket = field(default_factory=lambda: TokenBucket(PROBE_MESSAGES_PER_S, PROBE_MESSAGES_BURST))
    relay_chars: TokenBucket = field(default_factory=lambda: TokenBucket(RELAY_CHARS_PER_S, RELAY_CHARS_BURST))
    connects: TokenBucket = field(default_factory=lambda: TokenBucket(CONNECTS_PER_S, CONNECTS_BURST))
    unity_rows: TokenBucket = field(default_factory=lambda: TokenBucket(UNITY_ROWS_PER_S, UNITY_ROWS_BURST))


def count_ignored(counts: dict[str, int], kind: str) -> bool:
    """Count one ignored message of `kind` in `counts` (a participant's); True the first time (record it then).

    Unknown event names are kinds too; past `MAX_IGNORED_KINDS` of them they share one count.
    """
    if kind not in counts and kind.startswith("unknown:"):
        if sum(1 for k in counts if k.startswith("unknown:")) >= MAX_IGNORED_KINDS:
            kind = "unknown:*"
    counts[kind] = counts.get(kind, 0) + 1
    return counts[kind] == 1
