"""Running a game pod under uvicorn, draining on SIGTERM before the server stops."""

from __future__ import annotations

import asyncio
import ctypes
import logging
import os
import signal
import sys
from types import FrameType

import uvicorn

from gymkube.game_pod.app import build_app
from gymkube.game_pod.confinement import confine_pod
from gymkube.game_pod.pod import Pod
from gymkube.game_pod.settings import get_settings

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


class DrainingServer(uvicorn.Server):
    """On the first SIGTERM/SIGINT: stop new games, let running ones finish (bounded), exit."""

    def __init__(self, config: uvicorn.Config, pod: Pod, drain_timeout_s: float) -> None:
        super().__init__(config)
        self.pod = pod
        self.drain_timeout_s = drain_timeout_s
        self._draining = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._draining:
            super().handle_exit(sig, frame)
            return
        self._draining = True
        pod = self.pod
        log.info(
            "signal %s: draining game pod (up to %.0f s)",
            signal.Signals(sig).name,
            self.drain_timeout_s,
        )

        async def drain_then_exit() -> None:
            await pod.drain(self.drain_timeout_s)
            self.should_exit = True

        asyncio.get_event_loop().create_task(drain_then_exit())


def follow_parent(parent_pid: int) -> None:
    """Be sent SIGTERM (and so drain) when the control plane that started this pod dies (Linux)."""
    if not parent_pid:
        return
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent_pid:  # it died before the line above
        raise SystemExit(f"the control plane (pid {parent_pid}) is gone")


def run_game_pod() -> int:
    """Serve one game pod until told to stop; returns the exit code."""
    settings = get_settings()
    follow_parent(settings.parent_pid)
    confine_pod(settings)  # before the app (and with it the experiment's code) is loaded
    app = build_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=5,
        ws_max_size=settings.max_message_bytes,
    )
    server = DrainingServer(config, app.pod, settings.drain_timeout_s)
    server.run()
    return 0
