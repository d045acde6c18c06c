"""Debian's coturn on 127.0.0.1 with a shared secret, as the chart's TURN server would be for game pods (or with one
static user, as TURN services that hand out a fixed username and credential are)."""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from gymkube.platform.runtime.local import free_port


@dataclass
class TurnServer:
    port: int
    secret_file: Path
    log: Path
    args: list[str]
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"turn:127.0.0.1:{self.port}?transport=udp"

    def pod_env(self) -> dict[str, str]:
        """What game pods are given (the operator mounts the same from the chart's TURN secret)."""
        return {"GYMKUBE_TURN_URLS": f'["{self.url}"]', "GYMKUBE_TURN_SECRET_FILE": str(self.secret_file)}

    def start(self) -> None:
        """Runs coturn (again: same port and secret, so the pods' credentials still work) until it answers."""
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while True:  # up when it answers on its TCP listener
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    break
            assert self.process.poll() is None and time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.1)

    def stop(self) -> None:
        """Kills coturn: every relayed path through it breaks (its allocations are gone)."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait(10)
        self.process = None


@contextmanager
def turnserver(folder: Path, static_user: tuple[str, str] | None = None) -> Iterator[TurnServer]:
    """coturn in the foreground: loopback only, auth by the TURN REST API secret (or long-term credentials of
    `static_user`: name and password), relays allowed to loopback."""
    binary = shutil.which("turnserver")
    if binary is None:
        pytest.fail("coturn is not installed: run `make system-deps` (apt-get install coturn)")
    folder.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_hex(16)
    secret_file = folder / "turn-secret"
    secret_file.write_text(secret)
    port = free_port()
    low = 49152 + (port % 8000)
    args = [
        binary, "-n", "--listening-ip=127.0.0.1", "--relay-ip=127.0.0.1", f"--listening-port={port}",
        f"--min-port={low}", f"--max-port={low + 200}",
        *(["--lt-cred-mech", f"--user={static_user[0]}:{static_user[1]}"] if static_user
          else ["--use-auth-secret", f"--static-auth-secret={secret}"]),
        "--realm=gymkube.test", "--allow-loopback-peers", "--no-cli", "--no-tls", "--no-dtls", "--fingerprint",
        "--log-file=stdout", "--simple-log", f"--pidfile={folder / 'turnserver.pid'}", f"--userdb={folder / 'turndb'}",
    ]  # fmt: skip
    server = TurnServer(port, secret_file, folder / "turnserver.log", args)
    try:
        server.start()
        yield server
    finally:
        if server.process is not None:
            server.process.terminate()
            try:
                server.process.wait(10)
            except subprocess.TimeoutExpired:
                server.process.kill()
