"""Survey answers as the server checks them: what is recorded, and what the participant is told."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml

from gymkube.game_pod.survey import check_answers
from gymkube.spec import SurveyScene, load_experiments

QUESTIONS: list[dict[str, Any]] = [
    {"id": "likert", "type": "likert", "prompt": "How?", "points": 5},
    {"id": "hours", "type": "number", "prompt": "Hours?", "min": 0, "max": 100, "integer": True},
    {"id": "weight", "type": "number", "prompt": "Weight?", "min": 0.5, "max": 2.5},
    {"id": "single", "type": "single", "prompt": "One?", "options": ["red", "green", "blue"]},
    {"id": "multiple", "type": "multiple", "prompt": "Any?", "options": ["a", "b", "c"]},
    {"id": "text", "type": "text", "prompt": "Say", "maxLength": 10},
    {"id": "optional_text", "type": "text", "prompt": "More?", "required": False},
    {
        "id": "optional_multiple",
        "type": "multiple",
        "prompt": "Also?",
        "options": ["x", "y"],
        "required": False,
    },
    {"id": "optional_number", "type": "number", "prompt": "Age?", "required": False},
]
VALID: dict[str, Any] = {
    "likert": 3,
    "hours": 12,
    "weight": 1.25,
    "single": "green",
    "multiple": ["b", "a"],
    "text": "fine",
}


@pytest.fixture(scope="module")
def survey() -> SurveyScene:
    document = {
        "apiVersion": "gymkube.io/v1alpha1",
        "kind": "Experiment",
        "metadata": {"name": "survey"},
        "spec": {"scenes": [{"type": "survey", "id": "q", "questions": QUESTIONS}, {"type": "end"}]},
    }
    (experiment,) = load_experiments(yaml.safe_dump(document))
    scene = experiment.spec.scene("q")
    assert isinstance(scene, SurveyScene)
    return scene


def answer(survey: SurveyScene, **changes: Any) -> tuple[dict[str, Any], dict[str, str]]:
    return check_answers(survey, {**VALID, **changes})


def test_valid_answers_are_recorded_cleaned_and_optional_questions_may_be_left_out(survey):
    clean, errors = check_answers(survey, {**VALID, "text": "  fine  "})
    assert errors == {}
    assert clean == {
        "likert": 3,
        "hours": 12,
        "weight": 1.25,
        "single": "green",
        "multiple": ["b", "a"],
        "text": "fine",
    }


def test_optional_questions_are_recorded_when_answered(survey):
    clean, errors = answer(survey, optional_text="more", optional_multiple=["y"], optional_number=-3.5)
    assert errors == {}
    recorded = (clean["optional_text"], clean["optional_multiple"], clean["optional_number"])
    assert recorded == ("more", ["y"], -3.5)


@pytest.mark.parametrize("value", [1, 5, 4.0])
def test_a_likert_point_on_the_scale_is_recorded_as_a_whole_number(survey, value):
    clean, errors = answer(survey, likert=value)
    assert errors == {} and clean["likert"] == int(value) and isinstance(clean["likert"], int)


@pytest.mark.parametrize("value", [0, 6, -1, 2.5])
def test_a_likert_value_off_the_scale_or_between_points_is_refused(survey, value):
    clean, errors = answer(survey, likert=value)
    assert errors == {"likert": "Please choose a point from 1 to 5."}
    assert "likert" not in clean


@pytest.mark.parametrize("value", [True, False, "3", [3], {"v": 3}, math.nan, math.inf, -math.inf])
def test_number_questions_refuse_booleans_strings_and_non_finite_values(survey, value):
    clean, errors = answer(survey, likert=value, hours=value, weight=value)
    assert errors == dict.fromkeys(("likert", "hours", "weight"), "Please enter a number.")
    assert not {"likert", "hours", "weight"} & set(clean)


def test_a_number_below_the_minimum_or_above_the_maximum_is_refused(survey):
    _, low = answer(survey, weight=0.25)
    _, high = answer(survey, weight=3)
    assert low == {"weight": "Please enter at least 0.5."}
    assert high == {"weight": "Please enter at most 2.5."}


def test_the_bounds_themselves_are_accepted(survey):
    clean, errors = answer(survey, weight=0.5, hours=100)
    assert errors == {} and clean["weight"] == 0.5 and clean["hours"] == 100


def test_an_integer_question_refuses_fractions_and_records_whole_floats_as_ints(survey):
    _, errors = answer(survey, hours=2.5)
    assert errors == {"hours": "Please enter a whole number."}
    clean, errors = answer(survey, hours=7.0)
    assert errors == {} and clean["hours"] == 7 and isinstance(clean["hours"], int)


def test_a_non_integer_number_question_records_floats(survey):
    clean, _ = answer(survey, weight=2)
    assert clean["weight"] == 2.0 and isinstance(clean["weight"], float)


@pytest.mark.parametrize("value", ["purple", "Red", 1, ["red"]])
def test_a_single_choice_not_among_the_options_is_refused(survey, value):
    clean, errors = answer(survey, single=value)
    assert errors == {"single": "Please choose one of the options."} and "single" not in clean


@pytest.mark.parametrize("value", [["a", "z"], "a", ["a", 1], [["a"]]])
def test_a_multiple_choice_with_an_unknown_option_or_not_a_list_is_refused(survey, value):
    clean, errors = answer(survey, multiple=value)
    assert errors == {"multiple": "Please choose from the options."} and "multiple" not in clean


def test_a_multiple_choice_records_each_option_once_in_the_order_chosen(survey):
    clean, _ = answer(survey, multiple=["c", "a", "c"])
    assert clean["multiple"] == ["c", "a"]


def test_an_empty_required_multiple_choice_needs_an_answer(survey):
    _, errors = answer(survey, multiple=[])
    assert errors == {"multiple": "This question needs an answer."}


def test_text_longer_than_its_limit_is_refused(survey):
    _, errors = answer(survey, text="x" * 11)
    assert errors == {"text": "Please keep it under 10 characters."}
    clean, errors = answer(survey, text="x" * 10)
    assert errors == {} and clean["text"] == "x" * 10


@pytest.mark.parametrize("value", ["", "   ", "\n\t"])
def test_blank_text_for_a_required_question_needs_an_answer(survey, value):
    _, errors = answer(survey, text=value)
    assert errors == {"text": "This question needs an answer."}


@pytest.mark.parametrize("value", [5, ["text"], True])
def test_text_that_is_not_a_string_is_refused(survey, value):
    _, errors = answer(survey, text=value)
    assert errors == {"text": "Please enter text."}


def test_every_missing_required_question_is_reported_at_once(survey):
    clean, errors = check_answers(survey, {})
    assert clean == {}
    assert set(errors) == set(VALID)
    assert set(errors.values()) == {"This question needs an answer."}


def test_questions_left_blank_as_none_count_as_missing(survey):
    _, errors = answer(survey, likert=None, optional_number=None)
    assert errors == {"likert": "This question needs an answer."}


def test_answers_for_unknown_questions_are_not_recorded(survey):
    clean, errors = answer(survey, injected="<script>")
    assert errors == {} and "injected" not in clean


@pytest.mark.parametrize("answers", [None, ["likert", 3], "likert=3", 3])
def test_answers_that_are_not_a_mapping_are_refused_as_a_whole(survey, answers):
    clean, errors = check_answers(survey, answers)
    assert clean == {}
    assert errors == {"_": "The answers could not be read; please try again."}
