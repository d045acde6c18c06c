"""Progress on stderr: a redrawn bar on a terminal, whole lines in logs, and a line when the task ends."""

from __future__ import annotations

import io
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
