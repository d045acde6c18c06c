"""Serving the control plane under uvicorn; on Ctrl-C/SIGTERM its own game pods stop while it still serves them."""

from __future__ import annotations

import logging
from typing import Any

import uvicorn
from fastapi import FastAPI

from gymkube.graceful import GracefulServer

log = logging.getLogger(__name__)


def serve(app: FastAPI, host: str, port: int, **options: Any) -> None:
    """Run until a signal; the runtime's pods are stopped before the server goes away."""
    # Game pods hold no storage credentials: their last chunks and progress go through this process's
    # internal API, so it serves on until the runtime's own pods are gone.
    config = uvicorn.Config(app, host=host, port=port, log_level="warning", **options)
    GracefulServer(config, app.state.plane.runtime.stop_pods, "stopping game pods, then the control plane").run()
