"""Per-connection rate limits: excess events are dropped, a flood disconnects the sender."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


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
    unknown: int = 0

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
