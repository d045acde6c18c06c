"""Benchmark: the researcher dashboard with a large study (10,000 participants by default).

Run: `make bench-dashboard` (DASHBOARD_PARTICIPANTS=N for another size). Seeds the participants
straight into storage as data chunks (as game pods write them), starts `gymkube up`, and measures:
how long the control plane's index takes to read them; the participants table's first page,
a filtered page and a search through HTTP (p50 and p99 of repeated requests, cache bypassed by
varying the query); the live view; and, in chromium, the time from opening the dashboard to its
first page of participants on screen. Writes benchmarks/results/dashboard-<date>.json.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "platform"), str(ROOT / "tests" / "e2e")]
from browser import chromium  # noqa: E402
from conftest import Platform, quick_manifest  # noqa: E402
from dashboard_seed import seed_participants  # noqa: E402
from machine import describe  # noqa: E402

from gymkube.storage.backends import LocalStorage  # noqa: E402

PARTICIPANTS = int(os.environ.get("DASHBOARD_PARTICIPANTS", "10000"))
REQUESTS = 100
SECRET = "a-long-admin-secret-for-benchmarks"


def timed_ms(client: httpx.Client, path: str, queries: list[dict[str, str]]) -> dict[str, float]:
    """p50 and p99 of one request per query (each different, so no answer comes from the 1-second cache)."""
    times = []
    for params in queries:
        started = time.perf_counter()
        reply = client.get(path, params=params)
        times.append((time.perf_counter() - started) * 1000)
        assert reply.status_code == 200, reply.text
    times.sort()
    return {"p50_ms": round(statistics.median(times), 1), "p99_ms": round(times[int(0.99 * (len(times) - 1))], 1)}


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "data"
        started = time.perf_counter()
        seed_participants(LocalStorage(data / "storage"), "cartpole", PARTICIPANTS)
        seeded_s = time.perf_counter() - started
        platform = Platform([quick_manifest(Path(folder), "cartpole.yaml")], data, {"GYMKUBE_ADMIN_SECRET": SECRET})
        try:
            client = httpx.Client(base_url=platform.base, timeout=30)
            client.post("/admin/login", data={"secret": SECRET})
            begun = time.perf_counter()
            while client.get("/admin/api/experiments/cartpole/live").json()["funnel"]["entered"] < PARTICIPANTS:
                time.sleep(0.05)
            indexed_s = time.perf_counter() - begun
            page = "/admin/api/experiments/cartpole/participants"
            result = {
                "date": date.today().isoformat(),
                "machine": describe(),
                "participants": PARTICIPANTS,
                "seed_s": round(seeded_s, 2),
                "index_ready_after_start_s": round(indexed_s, 2),
                "first_page": timed_ms(client, page, [{"limit": str(50 + i)} for i in range(REQUESTS)]),
                "state_filter": timed_ms(
                    client, page, [{"state": "completed", "limit": str(50 + i)} for i in range(REQUESTS)]
                ),  # fmt: skip
                "search": timed_ms(
                    client, page, [{"search": f"seed-{i * 97 % PARTICIPANTS:06d}"} for i in range(REQUESTS)]
                ),  # fmt: skip
                "live_view": timed_ms(client, "/admin/api/experiments/cartpole/live", [{} for _ in range(REQUESTS)]),
            }
            with chromium() as browser:
                tab = browser.new_page(locale="en-US")
                tab.goto(f"{platform.base}/admin")
                tab.fill("input[name=secret]", SECRET)
                tab.click("main.login button")
                tab.wait_for_selector("#participants tbody tr")
                shown = []
                for _ in range(5):
                    tab.reload()
                    tab.wait_for_selector("#participants tbody tr")
                    shown.append(tab.evaluate("performance.now()"))
                result["browser_first_page_ms"] = {"median": round(statistics.median(shown)), "max": round(max(shown))}
        finally:
            platform.stop()
    print(json.dumps(result))  # noqa: T201
    out = ROOT / "benchmarks" / "results" / f"dashboard-{result['date']}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
