"""Serving the control plane under uvicorn; on Ctrl-C/SIGTERM its own game pods stop while it still serves them."""

from __future__ import annotations

import asyncio
import logging
import signal
from types import FrameType
from typing import Any

import uvicorn
from fastapi import FastAPI

log = logging.getLogger(__name__)


class PlatformServer(uvicorn.Server):
    """The first signal stops the runtime's game pods (they drain and flush through this control plane), then exits.

    Game pods hold no storage credentials: their last chunks and progress go through this
    process's internal API, so it must keep answering until they are gone.
    """

    def __init__(self, config: uvicorn.Config, app: FastAPI) -> None:
        super().__init__(config)
        self.app = app
        self._stopping = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._stopping:
            super().handle_exit(sig, frame)
            return
        self._stopping = True
        log.info("signal %s: stopping game pods, then the control plane", signal.Signals(sig).name)

        async def stop_pods_then_exit() -> None:
            try:
                await self.app.state.plane.runtime.stop_pods()
            finally:
                self.should_exit = True

        asyncio.get_event_loop().create_task(stop_pods_then_exit())


def serve(app: FastAPI, host: str, port: int, **options: Any) -> None:
    """Run until a signal; the runtime's pods are stopped before the server goes away."""
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", **options)
    PlatformServer(config, app).run()
