"""Progress of a long command on stderr: a tqdm bar on a terminal, a plain line now and then otherwise.

A bar's carriage returns make a mess of CI logs and files, so when the stream is not a terminal
(or TERM=dumb) the same progress comes as whole lines, at most one every `every_s` seconds,
plus one when the task ends. tqdm draws the bar: small, without dependencies, and it sizes the
bar to the terminal and shows the rate and the time left.
"""

from __future__ import annotations

import os
import sys
import time
from types import TracebackType
from typing import TextIO


def draws_bars(stream: TextIO) -> bool:
    """Whether `stream` is a terminal that can take a redrawn bar."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and os.environ.get("TERM") != "dumb"


class ProgressBar:
    """Counts done out of `total` for one task; use as a context manager and call `update(done)`."""

    def __init__(
        self, label: str, total: int, unit: str = "rows", stream: TextIO | None = None, every_s: float = 5.0
    ) -> None:
        self.label, self.total, self.unit, self.every_s = label, total, unit, every_s
        self.stream = stream or sys.stderr
        self.done = 0
        self.started = time.monotonic()
        self._last_line = self.started
        self._bar = None
        if draws_bars(self.stream):
            from tqdm import tqdm

            self._bar = tqdm(total=total, desc=label, unit=f" {unit}", unit_scale=True, file=self.stream)

    def update(self, done: int) -> None:
        """Set how much is done so far."""
        step, self.done = done - self.done, done
        if self._bar is not None:
            self._bar.update(step)
        elif time.monotonic() - self._last_line >= self.every_s:
            self._line()

    def _line(self, suffix: str = "") -> None:
        self._last_line = time.monotonic()
        share = f" ({100 * self.done / self.total:.0f}%)" if self.total else ""
        self.stream.write(f"{self.label}: {self.done:,} of {self.total:,} {self.unit}{share}{suffix}\n")
        self.stream.flush()

    @property
    def elapsed_s(self) -> float:
        """Seconds since the task started."""
        return time.monotonic() - self.started

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._bar is not None:
            self._bar.close()
        elif kind is None:
            self._line(f", done in {self.elapsed_s:.1f} s")
