"""Entry checks from the spec: the wrong device, browser or screen gets a friendly page, recorded."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import httpx
import yaml
from conftest import quick_manifest

CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
SAFARI = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"  # noqa: E501
)
IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Firefox/126"


def test_entry_checks_turn_away_phones_other_browsers_and_small_screens(platform_factory, tmp_path: Path):
    manifest = quick_manifest(tmp_path, "cartpole.yaml")
    document = yaml.safe_load(manifest.read_text())
    document["spec"]["entry"] = {
        "desktopOnly": True, "browsers": ["chrome", "firefox"], "minScreenWidth": 1024, "minScreenHeight": 700,
    }  # fmt: skip
    manifest.write_text(yaml.safe_dump(document))
    platform = platform_factory(manifest)

    def visit(agent: str, width: int, height: int, who: str) -> httpx.Response:
        first = httpx.get(platform.entry("cartpole", PROLIFIC_PID=who), headers={"User-Agent": agent})
        assert first.status_code == 200 and "/go?" in first.text, "the browser is asked for its screen first"
        url = f"{platform.base}/x/cartpole/go?PROLIFIC_PID={who}&sw={width}&sh={height}"
        return httpx.get(url, headers={"User-Agent": agent})

    assert visit(CHROME, 1920, 1080, "ok1").status_code == 303
    phone = visit(IPHONE, 1920, 1080, "phone1")
    assert phone.status_code == 403 and "desktop or laptop computer" in phone.text
    safari = visit(SAFARI, 1920, 1080, "mac1")
    assert safari.status_code == 403 and "Chrome, Firefox" in safari.text
    small = visit(CHROME, 800, 600, "small1")
    assert small.status_code == 403 and "at least 1024 x 700 pixels (yours: 800 x 600)" in small.text

    api = httpx.Client(base_url=platform.base, headers={"Authorization": f"Bearer {platform.token('r')}"})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        reply = api.get("/api/v1/experiments/cartpole/data/screening", params={"format": "csv"})
        rows = list(csv.DictReader(io.StringIO(reply.text)))
        if len(rows) == 3:
            break
        time.sleep(0.5)
    assert {r["participant"]: r["browser"] for r in rows} == {"phone1": "firefox", "mac1": "safari",
                                                               "small1": "chrome"}  # fmt: skip
    assert all(r["problems"] for r in rows)
