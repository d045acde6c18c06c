"""Progress on stderr: a redrawn bar on a terminal, whole lines in logs, and a line when the task ends."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gymkube.progressbar import ProgressBar

sys.path.insert(0, str(Path(__file__).resolve().parent / "storage"))
from synthetic_study import write_study  # noqa: E402

from gymkube.storage import LocalStorage  # noqa: E402


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_redrawn_bar(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TERM", "xterm")
    screen = Terminal()
    with ProgressBar("export steps", 1_000, stream=screen) as bar:
        for done in range(100, 1_001, 100):
            bar.update(done)
    drawn = screen.getvalue()
    assert "\r" in drawn and "export steps" in drawn and "100%" in drawn and "1.00k/1.00k" in drawn


def test_a_log_gets_whole_lines_now_and_then_and_one_at_the_end():
    log = io.StringIO()
    with ProgressBar("export steps", 1_000_000, stream=log, every_s=0) as bar:
        bar.update(250_000)
        bar.update(1_000_000)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert lines[0] == "export steps: 250,000 of 1,000,000 rows (25%)"
    assert lines[-1].startswith("export steps: 1,000,000 of 1,000,000 rows (100%), done in ")
    quiet = io.StringIO()
    with ProgressBar("export steps", 10, stream=quiet) as bar:  # every 5 s: nothing until the end
        bar.update(5)
    assert quiet.getvalue().count("\n") == 1


def test_gymkube_export_reports_progress_and_a_summary_on_stderr_and_paths_on_stdout(tmp_path: Path):
    study = write_study(LocalStorage(tmp_path / "store"), "study", 30_000, rows_per_chunk=1_000, sessions=20)
    rows = study.steps + study.episodes + study.sessions + study.chunks  # one event per chunk
    result = subprocess.run(
        [sys.executable, "-m", "gymkube", "export", "study", "--data", str(tmp_path / "store"),
         "--format", "csv", "--out", str(tmp_path / "out")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    tables = ("steps", "episodes", "sessions", "events")
    assert result.stdout.split() == [str(tmp_path / "out" / f"study-{t}.csv") for t in tables]
    assert "export steps: 30,000 of 30,000 rows (100%), done in" in result.stderr
    assert f"exported 4 tables of 'study': {rows:,} rows" in result.stderr


def test_bot_check_and_replay_report_progress_and_a_summary(platform_factory, tmp_path: Path):
    from conftest import quick_manifest

    platform = platform_factory(quick_manifest(tmp_path, "cartpole.yaml", episodes=1))
    bots = subprocess.run(
        [sys.executable, "-m", "gymkube", "bot", platform.entry("cartpole"), "--count", "3", "--timeout", "120"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert bots.returncode == 0, bots.stdout + bots.stderr
    assert "bots: 3 of 3 bots (100%), done in " in bots.stderr
    assert bots.stdout.splitlines()[-1].startswith("3 of 3 bots finished (0 with an early ending), 0 refused, 0 failed")
    platform.stop()

    checked = platform.gymkube("check", "cartpole")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "check: read sessions: 3 of 3 rows (100%), done in " in checked.stderr
    assert "check: read steps: " in checked.stderr and "checked 'cartpole' in " in checked.stderr
    assert re.fullmatch(r"cartpole: 3 sessions, 3 episodes, \d+ steps: ok", checked.stdout.splitlines()[-1])

    replayed = platform.gymkube("replay", "cartpole")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert "replay: 3 of 3 episodes (100%), done in " in replayed.stderr
    assert "replay: read steps: " in replayed.stderr and "replayed 3 episodes of 'cartpole' in " in replayed.stderr
    assert replayed.stdout.strip() == "3 of 3 episodes replay identically (100.0%)"


def test_a_bot_that_cannot_enter_is_counted_as_failed_not_a_traceback(tmp_path: Path):
    from gymkube.platform.runtime.local import free_port

    result = subprocess.run(
        [sys.executable, "-m", "gymkube", "bot", f"http://127.0.0.1:{free_port()}/x/nothing", "--count", "2",
         "--timeout", "5"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stdout.splitlines()[-1].startswith(
        "0 of 2 bots finished (0 with an early ending), 0 refused, 2 failed"
    )
    assert "failed: ConnectError" in result.stdout
