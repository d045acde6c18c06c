"""What a benchmark ran on: CPU model, cores, memory, OS and Python, taken from the run itself."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path
from typing import Any

import psutil


def describe() -> dict[str, Any]:
    """This machine, for a results file."""
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), platform.machine())
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
    }


def run_date() -> tuple[str, str]:
    """When this run started: (ISO date and time for the results file, ISO date for its name)."""
    now = datetime.datetime.now()
    return now.isoformat(timespec="seconds"), now.date().isoformat()


def newest_capacity_results(results: Path) -> Path | None:
    """The newest full `make bench` results file (`<date>.json`) in `results`, if any."""
    dated = sorted(p for p in results.glob("????-??-??.json") if p.stem[:4].isdigit())
    return dated[-1] if dated else None
