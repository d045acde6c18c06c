"""Checking what a static page recorded (its named fields and `gymkube.setValue` values) on the pod.

The page is researcher code running in the participant's browser and the browser may be modified: whatever
arrives is bounded here by PAGE_LIMITS, as typed values, and refused whole with a message rather than cut.
"""

from __future__ import annotations

import json
import math
from typing import Any

from gymkube.game_pod.protocol import PAGE_LIMITS
from gymkube.spec.scenes import StaticScene

PageValue = str | int | float | bool | list[str] | None
UNREADABLE = "The page's answers could not be read; please try again."


def _valid_name(name: Any) -> bool:
    return isinstance(name, str) and 0 < len(name) <= PAGE_LIMITS["nameChars"] and name.isprintable()


def _value(value: Any) -> tuple[bool, PageValue]:
    """(ok, value) for one recorded value: text, a finite number, a tick, nothing, or a list of texts."""
    if value is None or isinstance(value, bool):
        return True, value
    if isinstance(value, int | float):
        return math.isfinite(value), value
    if isinstance(value, str):
        return len(value) <= PAGE_LIMITS["textChars"], value
    if isinstance(value, list) and len(value) <= PAGE_LIMITS["listItems"]:
        ok = all(isinstance(item, str) and len(item) <= PAGE_LIMITS["textChars"] for item in value)
        return ok, list(value)
    return False, None


def _empty(value: PageValue) -> bool:
    return value is None or value is False or (isinstance(value, str | list) and len(value) == 0)


def _declared(scene: StaticScene, values: dict[str, PageValue]) -> tuple[dict[str, PageValue], dict[str, str]]:
    """Only the scene's declared fields, each checked against its declaration."""
    clean: dict[str, PageValue] = {}
    errors: dict[str, str] = {}
    for field in scene.fields or []:
        value = values.get(field.name)
        if field.required and _empty(value):
            errors[field.name] = f"Please fill in '{field.name}'."
            continue
        if value is None:
            continue
        texts = value if isinstance(value, list) else [value] if isinstance(value, str) else []
        if any(len(text) > field.max_length for text in texts):
            errors[field.name] = f"Please keep '{field.name}' under {field.max_length} characters."
            continue
        clean[field.name] = value
    return clean, errors


def check_page_answers(scene: StaticScene, answers: Any) -> tuple[dict[str, PageValue] | None, dict[str, str]]:
    """The page's answers to record (None when it has none), and error messages when they are refused."""
    if answers is None:
        answers = {}
    if not isinstance(answers, dict) or len(answers) > PAGE_LIMITS["fields"]:
        return None, {"_": UNREADABLE}
    values: dict[str, PageValue] = {}
    for name, raw in answers.items():
        ok, value = _value(raw)
        if not ok or not _valid_name(name):
            return None, {"_": UNREADABLE}
        values[name] = value
    errors: dict[str, str] = {}
    if scene.fields is not None:
        values, errors = _declared(scene, values)
    if errors:
        return None, errors
    size = len(json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode())
    if size > PAGE_LIMITS["answerBytes"]:
        return None, {"_": "The answers on this page are too long to record; please shorten them."}
    return values or None, {}
