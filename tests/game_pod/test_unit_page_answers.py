"""A static page's answers as the pod checks them, and researcher HTML as the pod sanitises it."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from gymkube.game_pod.page_answers import check_page_answers
from gymkube.game_pod.pages import safe_html
from gymkube.game_pod.protocol import PAGE_LIMITS
from gymkube.spec.scenes import StaticScene


def page(**extra: Any) -> StaticScene:
    return StaticScene.model_validate({"type": "static", "id": "consent", "html": "<p>Hi</p>", **extra})


def test_every_named_value_a_page_sends_is_recorded_as_typed() -> None:
    sent = {"consent": True, "age": 34, "score": 0.5, "name": "Ada", "hobbies": ["chess"], "unset": None}
    assert check_page_answers(page(), sent) == (sent, {})


def test_a_page_without_values_records_none_as_before() -> None:
    assert check_page_answers(page(), None) == (None, {})
    assert check_page_answers(page(), {}) == (None, {})


@pytest.mark.parametrize(
    "sent",
    [
        "not a map",
        ["a"],
        {f"f{i}": 1 for i in range(PAGE_LIMITS["fields"] + 1)},
        {"big": "x" * (PAGE_LIMITS["textChars"] + 1)},
        {"list": ["x"] * (PAGE_LIMITS["listItems"] + 1)},
        {"list": [1, 2]},
        {"nested": {"a": 1}},
        {"nan": float("nan")},
        {"inf": float("inf")},
        {"": "no name"},
        {"n" * (PAGE_LIMITS["nameChars"] + 1): "long name"},
        {"bad\nname": "control character"},
        {1: "not a text name"},
    ],
    ids=repr,
)
def test_what_a_modified_browser_sends_outside_the_limits_is_refused_whole(sent: Any) -> None:
    clean, errors = check_page_answers(page(), sent)
    assert clean is None and errors == {"_": "The page's answers could not be read; please try again."}


def test_all_answers_together_stay_under_answer_bytes() -> None:
    fields = PAGE_LIMITS["answerBytes"] // PAGE_LIMITS["textChars"] + 1
    clean, errors = check_page_answers(page(), {f"t{i}": "x" * PAGE_LIMITS["textChars"] for i in range(fields)})
    assert clean is None and "too long" in errors["_"]


def test_declared_fields_are_checked_and_only_they_are_recorded() -> None:
    scene = page(fields=[{"name": "consent", "required": True}, {"name": "comment", "maxLength": 5}, {"name": "opt"}])
    assert check_page_answers(scene, {"consent": True, "comment": "ok", "other": "x"}) == (
        {"consent": True, "comment": "ok"},
        {},
    )
    assert check_page_answers(scene, {"consent": True, "opt": False}) == ({"consent": True, "opt": False}, {})
    for unticked in ({"consent": False}, {"consent": ""}, {"consent": []}, {}):
        assert check_page_answers(scene, unticked) == (None, {"consent": "Please fill in 'consent'."})
    assert check_page_answers(scene, {"consent": True, "comment": "too long"})[1] == {
        "comment": "Please keep 'comment' under 5 characters."
    }
    assert check_page_answers(scene, {"consent": True, "comment": ["fine", "far too long"]})[0] is None


def test_declared_field_names_are_unique_and_bounded() -> None:
    with pytest.raises(ValidationError, match="unique"):
        page(fields=[{"name": "a"}, {"name": "a"}])
    with pytest.raises(ValidationError):
        page(fields=[{"name": "x" * 65}])
    with pytest.raises(ValidationError):
        page(fields=[{"name": "a", "maxLength": 10_001}])


@pytest.mark.parametrize(
    ("markup", "kept"),
    [
        ('<img src="x" onerror="alert(1)">', '<img src="x">'),
        ("<p>Hi<script>alert(1)</script></p>", "<p>Hi</p>"),
        ('<svg onload="alert(1)"></svg><iframe src="x"></iframe><style>*{}</style>', ""),
        ('<a href="javascript:alert(1)">x</a>', '<a target="_blank" rel="noopener noreferrer">x</a>'),
        ('<a href="info.html">x</a>', '<a href="info.html" target="_blank" rel="noopener noreferrer">x</a>'),
        ('<strong style="color:#1f6feb; position:fixed">blue</strong>', '<strong style="color:#1f6feb">blue</strong>'),
        ('<p style="background:url(https://example.org/track)">x</p>', '<p style="">x</p>'),
        ('<form action="/x"><input name="a"></form>', ""),
    ],
)
def test_researcher_html_outside_static_pages_keeps_its_looks_but_no_code(markup: str, kept: str) -> None:
    assert safe_html(markup) == kept
