"""Confining a game pod process on one machine with Landlock, before it imports any researcher code.

On Kubernetes every game pod is its own container. The embedded runtime (`gymkube up`) runs game
pods as processes of the same user as the control plane, so without more a bundle could read the
control plane's secrets from its state folder (or from /proc/<pid>/environ), rewrite its token
file, or signal it. Landlock (Linux 5.13+, an unprivileged sandbox) lets the pod give up, for
itself and every thread and child it makes later:
- reading files outside the folders it needs (system libraries, the Python installation, the
  gymkube package, its bundle and manifest), so the state folder and other processes' /proc
  entries are out of reach;
- writing anywhere but its spool, its temporary folder and its home;
- (ABI 6+) sending signals to, or connecting to abstract unix sockets of, processes outside it.

Written here rather than taken from PyPI: the only binding there (`landlock` 1.0.0.dev5, alpha)
knows neither the network nor the scoping (signals) parts of the ABI. This is the whole of it:
three system calls and prctl through ctypes, as in the kernel's documentation
(Documentation/userspace-api/landlock.rst).
"""

from __future__ import annotations

import ctypes
import logging
import os
import platform
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # the same on x86_64 and aarch64
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_PR_SET_NO_NEW_PRIVS = 38

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_DIR_CHANGES = sum(1 << bit for bit in range(4, 13))  # remove dir/file, make char/dir/reg/sock/fifo/block/sym
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
SCOPE_ABSTRACT_UNIX_SOCKET, SCOPE_SIGNAL = 1 << 0, 1 << 1

READ = EXECUTE | READ_FILE | READ_DIR
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]  # fmt: skip


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc


def abi_version() -> int:
    """The Landlock ABI this kernel offers; 0 where there is none (not Linux, too old, disabled)."""
    if platform.system() != "Linux":
        return 0
    version = _libc().syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(int(version), 0)


def _handled(abi: int) -> int:
    rights = EXECUTE | WRITE_FILE | READ_FILE | READ_DIR | _DIR_CHANGES
    if abi >= 2:
        rights |= REFER
    if abi >= 3:
        rights |= TRUNCATE
    if abi >= 5:
        rights |= IOCTL_DEV
    return rights


def _check(result: int, what: str) -> int:
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"landlock: {what}: {os.strerror(errno)}")
    return result


def confine(read: Iterable[Path], write: Iterable[Path]) -> int:
    """Restrict this process (and what it starts later) to reading `read` and writing `write`.

    Call it before any other thread exists: Landlock binds the calling thread and its future
    children. Paths that do not exist are skipped.

    Returns:
        The Landlock ABI used.

    Raises:
        OSError: when the kernel offers no Landlock (the caller decides whether to run unconfined).
    """
    abi = abi_version()
    if abi < 1:
        raise OSError("landlock is not available on this system")
    libc = _libc()
    handled = _handled(abi)
    attr = _RulesetAttr(handled_access_fs=handled, handled_access_net=0,
                        scoped=(SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL) if abi >= 6 else 0)  # fmt: skip
    size = ctypes.sizeof(attr) if abi >= 6 else 16 if abi >= 4 else 8
    ruleset = _check(libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)),
                     "create a ruleset")  # fmt: skip
    try:
        for rights, paths in ((READ, read), (handled, write)):
            for path in paths:
                _allow(libc, ruleset, path, rights & handled)
        _check(libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "set no_new_privs")
        _check(libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)), "restrict self")
    finally:
        os.close(ruleset)
    return abi


def _allow(libc: ctypes.CDLL, ruleset: int, path: Path, rights: int) -> None:
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        if not os.path.isdir(path):
            rights &= FILE_RIGHTS  # a file takes only file rights
        rule = _PathBeneathAttr(allowed_access=rights, parent_fd=fd)
        _check(libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                            ctypes.byref(rule), ctypes.c_uint32(0)), f"allow {path}")  # fmt: skip
    finally:
        os.close(fd)
