"""Entry checks from the spec: device, browser and screen size, judged from what the browser says."""

from __future__ import annotations

import re

from gymkube.spec.experiment import EntryChecks

_MOBILE = re.compile(r"Mobi|Android|iPhone|iPad|iPod|Windows Phone", re.IGNORECASE)


def browser_family(user_agent: str) -> str:
    """chrome, firefox, safari, edge or other (order matters: Edge and Chrome say Safari too)."""
    if "Edg/" in user_agent:
        return "edge"
    if "Firefox/" in user_agent:
        return "firefox"
    if "Chrome/" in user_agent or "Chromium/" in user_agent:
        return "chrome"
    if "Safari/" in user_agent:
        return "safari"
    return "other"


def screen_problems(checks: EntryChecks, user_agent: str, width: int | None, height: int | None) -> list[str]:
    """Why this browser may not take part (empty: it may), in words for the participant."""
    problems = []
    if checks.desktop_only and _MOBILE.search(user_agent):
        problems.append("This study needs a desktop or laptop computer with a keyboard.")
    if checks.browsers and browser_family(user_agent) not in checks.browsers:
        names = ", ".join(b.capitalize() for b in checks.browsers)
        problems.append(f"This study works in these browsers: {names}.")
    if checks.min_screen_width or checks.min_screen_height:
        if width is None or height is None:
            problems.append("Your browser did not tell us its screen size.")
        elif width < checks.min_screen_width or height < checks.min_screen_height:
            problems.append(
                f"This study needs a screen of at least {checks.min_screen_width} x "
                f"{checks.min_screen_height} pixels (yours: {width} x {height})."
            )
    return problems
