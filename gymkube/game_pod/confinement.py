"""What a game pod started by the embedded runtime may read and write on this machine (see gymkube/sandbox.py)."""

from __future__ import annotations

import logging
import os
import site
import sys
import sysconfig
import tempfile
from pathlib import Path

import gymkube
from gymkube import sandbox
from gymkube.game_pod.settings import PodSettings

log = logging.getLogger(__name__)

SYSTEM_READ = ("/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/opt/conda",
               "/dev/urandom", "/dev/random", "/sys/devices", "/sys/bus", "/sys/fs/cgroup",
               "/proc/cpuinfo", "/proc/meminfo", "/proc/stat", "/proc/loadavg")  # fmt: skip
"""System files an interpreter, onnxruntime and TLS need; nothing of the platform's own."""


def python_paths() -> set[Path]:
    """The Python installation and the installed packages (gymkube's own folder, not the checkout around it)."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, *sysconfig.get_paths().values(), *site.getsitepackages()}
    return {Path(p).resolve() for p in paths if p} | {Path(gymkube.__file__).resolve().parent}


def pod_paths(settings: PodSettings) -> tuple[list[Path], list[Path]]:
    """The folders and files the pod may read, and those it may write.

    A folder that holds one of `settings.sandbox_deny` (the control plane's state folder) is never
    allowed whole, whatever else asked for it: only the pod's own parts of it are.
    """
    own = {Path(f"/proc/{os.getpid()}"), settings.experiment_file.resolve(), settings.static_dir.resolve()}
    if settings.bundle_dir is not None:
        own.add(settings.bundle_dir.resolve())
    read = {*map(Path, SYSTEM_READ), *python_paths(), *own}
    write = {settings.spool_dir.resolve(), Path(tempfile.gettempdir()).resolve(), Path("/dev/null")}
    if home := os.environ.get("HOME"):
        write.add(Path(home).resolve())
    denied = [Path(p).resolve() for p in settings.sandbox_deny]
    for path in sorted(read | write):
        if any(d == path or d.is_relative_to(path) for d in denied) and path not in own:
            log.warning("not letting the game pod reach %s: it holds the control plane's state", path)
            read.discard(path)
            write.discard(path)
    return sorted(read), sorted(write)


def confine_pod(settings: PodSettings) -> None:
    """Confine this process as the settings ask (`sandbox: landlock`), before any bundle code is imported."""
    if settings.sandbox != "landlock":
        return
    settings.spool_dir.mkdir(parents=True, exist_ok=True)  # a rule names an existing folder
    read, write = pod_paths(settings)
    try:
        abi = sandbox.confine(read, write)
    except OSError as exc:
        if settings.sandbox_required:
            raise
        log.warning(
            "game pod %s runs without a sandbox (%s): its experiment's code can reach everything this user can; "
            "run only experiments you trust on this machine",
            settings.pod_name,
            exc,
        )
        return
    log.info("game pod %s confined with landlock (ABI %d): %d readable, %d writable paths",
             settings.pod_name, abi, len(read), len(write))  # fmt: skip
