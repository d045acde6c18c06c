"""A uvicorn server whose first SIGTERM/SIGINT runs some work before it stops (a second one stops it at once)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable
from types import FrameType

import uvicorn

log = logging.getLogger(__name__)


class GracefulServer(uvicorn.Server):
    """Serves on while `before_exit` runs (a game pod draining its games; a control plane stopping its pods)."""

    def __init__(self, config: uvicorn.Config, before_exit: Callable[[], Awaitable[None]], what: str) -> None:
        super().__init__(config)
        self.before_exit = before_exit
        self.what = what
        self._exiting = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._exiting:
            super().handle_exit(sig, frame)
            return
        self._exiting = True
        log.info("signal %s: %s", signal.Signals(sig).name, self.what)

        async def then_exit() -> None:
            try:
                await self.before_exit()
            finally:
                self.should_exit = True

        asyncio.get_event_loop().create_task(then_exit())
