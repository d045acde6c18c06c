"""Running a game pod under uvicorn, draining on SIGTERM before the server stops."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys

import uvicorn

from gymkube.game_pod.app import build_app
from gymkube.game_pod.confinement import confine_pod
from gymkube.game_pod.pod import Pod
from gymkube.game_pod.settings import get_settings
from gymkube.graceful import GracefulServer

log = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


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
    pod: Pod = app.pod
    server = GracefulServer(
        config,
        lambda: pod.drain(settings.drain_timeout_s),
        f"draining game pod (up to {settings.drain_timeout_s:.0f} s)",
    )
    server.run()
    return 0
