"""Checking survey answers on the server: the browser's checks are a courtesy, these are law."""

from __future__ import annotations

import math
from typing import Any

from gymkube.spec.scenes import Question, SurveyScene

Answer = str | float | int | list[str]


def _check(question: Question, value: Any) -> tuple[Answer | None, str | None]:
    if question.type in ("likert", "number"):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None, "Please enter a number."
        if question.type == "likert":
            if value != int(value) or not 1 <= value <= question.points:
                return None, f"Please choose a point from 1 to {question.points}."
            return int(value), None
        if question.integer and value != int(value):
            return None, "Please enter a whole number."
        if question.min is not None and value < question.min:
            return None, f"Please enter at least {question.min:g}."
        if question.max is not None and value > question.max:
            return None, f"Please enter at most {question.max:g}."
        return (int(value) if question.integer else float(value)), None
    if question.type == "single":
        if value not in (question.options or []):
            return None, "Please choose one of the options."
        return str(value), None
    if question.type == "multiple":
        options = question.options or []
        if not isinstance(value, list) or any(v not in options for v in value):
            return None, "Please choose from the options."
        if question.required and not value:
            return None, "Please choose at least one option."
        return [str(v) for v in dict.fromkeys(value)], None
    if not isinstance(value, str):
        return None, "Please enter text."
    text = value.strip()
    if len(text) > question.max_length:
        return None, f"Please keep it under {question.max_length} characters."
    if question.required and not text:
        return None, "This question needs an answer."
    return text, None


def check_answers(scene: SurveyScene, answers: Any) -> tuple[dict[str, Answer], dict[str, str]]:
    """Clean answers by question id, and an error message for each question that fails."""
    if not isinstance(answers, dict):
        return {}, {"_": "The answers could not be read; please try again."}
    clean: dict[str, Answer] = {}
    errors: dict[str, str] = {}
    for question in scene.questions:
        value = answers.get(question.id)
        if value is None or value == "" or value == []:
            if question.required:
                errors[question.id] = "This question needs an answer."
            continue
        checked, error = _check(question, value)
        if error:
            errors[question.id] = error
        elif checked is not None:
            clean[question.id] = checked
    return clean, errors
