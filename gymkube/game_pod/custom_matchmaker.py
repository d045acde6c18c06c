"""A researcher's matchmaker (`group.matchmaker: module:Class`), run in a child process with a deadline.

The class comes from the experiment's files and has one method:

    class MyMatchmaker:
        def match(self, waiting: list[dict], size: int, seats: list[str]) -> list[list[str] | dict[str, str]]:
            ...  # groups of `size` participant ids (seats by `group.roles`), or {seat: participant} maps

`waiting` holds the participants who may be grouped now, earliest first (see matchmaking.describe). One
instance lives as long as the pod, so it may keep state between calls.

Researcher code must not stall the pod's event loop, where every game's tick runs: an endless loop,
a slow network call or a huge answer would freeze every participant on the pod. So the class lives in
a process of its own (`python -m gymkube.game_pod.custom_matchmaker`), fed one line of JSON per call
and answering one line of JSON; the pod waits at most `DEADLINE_S` and reads at most
`MAX_ANSWER_BYTES`. A call over time kills the process (it starts again at a later call, at most every
`RESTART_AFTER_S`); any failure means the room forms its groups with fifo this time, logged. Only JSON
crosses, so nothing the class returns runs in the pod. The process gets no GYMKUBE_* variables (not
the experiment's key) and at most `MEMORY_BYTES` of memory; `print` in the class is captured and logged.

Written here rather than with a process pool: a pool cannot kill one stuck task and go on, and its
pickled results could run code in the pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEADLINE_S = 1.0
"""The longest a call may take, the process's start included."""
START_DEADLINE_S = 20.0
"""The first call may take this long: the process imports the class (and whatever it imports)."""
MAX_ANSWER_BYTES = 1024 * 1024
RESTART_AFTER_S = 5.0
MEMORY_BYTES = 2 * 1024**3
MAX_TEXT = 2000


class CustomMatchmaker:
    """The pod's side: one child process running the researcher's class."""

    def __init__(self, entry_point: str, bundle_dir: Path | None, report: Callable[[str, str], None]) -> None:
        self.entry_point = entry_point
        self.bundle_dir = bundle_dir
        self.report = report  # (what, detail): logged and shown in the admin view
        self.process: asyncio.subprocess.Process | None = None
        self.started = False
        self.failed_at = -1e9

    async def groups(self, waiting: list[dict[str, Any]], size: int, seats: list[str]) -> Any | None:
        """The class's answer (to be checked by the caller), or None when it failed: use fifo."""
        if self.process is None or self.process.returncode is not None:
            if time.monotonic() - self.failed_at < RESTART_AFTER_S:
                return None
            await self._start()
        process = self.process
        assert process is not None and process.stdin is not None and process.stdout is not None
        deadline = START_DEADLINE_S if not self.started else DEADLINE_S
        try:
            process.stdin.write((json.dumps({"waiting": waiting, "size": size, "seats": seats}) + "\n").encode())
            await asyncio.wait_for(process.stdin.drain(), deadline)
            line = await asyncio.wait_for(process.stdout.readline(), deadline)
        except TimeoutError:
            return await self._fail(f"took longer than {deadline:g} s; the process was stopped")
        except (ValueError, asyncio.LimitOverrunError):
            return await self._fail(f"answered more than {MAX_ANSWER_BYTES} bytes; the process was stopped")
        except (BrokenPipeError, ConnectionResetError):
            return await self._fail("its process ended")
        self.started = True
        if not line:
            return await self._fail("its process ended")
        try:
            answer = json.loads(line)
        except ValueError:
            return await self._fail("did not answer JSON")
        if not isinstance(answer, dict):
            return await self._fail("did not answer JSON")
        if answer.get("output"):
            log.info("matchmaker %s printed: %s", self.entry_point, str(answer["output"])[:MAX_TEXT])
        if "error" in answer:
            self.report(f"matchmaker {self.entry_point} failed; groups formed by fifo", str(answer["error"])[:MAX_TEXT])
            return None
        return answer.get("groups")

    async def _start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GYMKUBE_")}
        folder = str(self.bundle_dir) if self.bundle_dir is not None else "."
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gymkube.game_pod.custom_matchmaker", self.entry_point, folder,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            env=env, cwd=folder, limit=MAX_ANSWER_BYTES,
        )  # fmt: skip
        self.started = False

    async def _fail(self, why: str) -> Any:
        self.report(f"matchmaker {self.entry_point} failed; groups formed by fifo", why)
        self.failed_at = time.monotonic()
        await self.close()
        return None  # the caller uses fifo

    async def close(self) -> None:
        """Stop the process (the pod is stopping, or it failed)."""
        process, self.process = self.process, None
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


def _failure(exc: BaseException) -> str:
    """What went wrong first (the admin view keeps a few hundred characters), then where."""
    where = traceback.extract_tb(exc.__traceback__)[-1:]
    at = f" (at {Path(where[0].filename).name} line {where[0].lineno}, in {where[0].name})" if where else ""
    summary = "".join(traceback.format_exception_only(exc)).strip()
    return (summary + at + "\n" + traceback.format_exc(limit=5))[:MAX_TEXT]


def _serve(entry_point: str, folder: str) -> None:
    """The child: answer each request line with one line of JSON."""
    import resource

    from gymkube.portable.common import import_entry_point

    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever the class prints never mixes with the answers
    sys.stdout = sys.stderr
    matcher, broken = None, None
    try:
        matcher = import_entry_point(entry_point, folder)()
    except Exception as exc:
        broken = _failure(exc)
    for line in sys.stdin:
        printed = io.StringIO()
        reply: dict[str, Any]
        try:
            if matcher is None:
                raise RuntimeError(f"the class could not be made:\n{broken}")
            request = json.loads(line)
            with contextlib.redirect_stdout(printed):
                reply = {"groups": matcher.match(request["waiting"], request["size"], request["seats"])}
        except Exception as exc:
            reply = {"error": _failure(exc)}
        reply["output"] = printed.getvalue()[-MAX_TEXT:]
        try:
            text = json.dumps(reply, allow_nan=False)
        except (TypeError, ValueError) as exc:
            text = json.dumps({"error": f"the answer is not plain JSON: {exc}"})
        answers.write(text + "\n")
        answers.flush()


if __name__ == "__main__":
    _serve(sys.argv[1], sys.argv[2])
