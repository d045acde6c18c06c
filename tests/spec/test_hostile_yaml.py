"""YAML that is legal but abusive is refused early, with a message a researcher can act on."""

from __future__ import annotations

import time

import pytest

from gymkube.spec import ManifestError, load_experiments


def problems(text: str) -> str:
    with pytest.raises(ManifestError) as caught:
        load_experiments(text, "m.yaml")
    return caught.value.render()


def test_a_duplicate_key_is_refused_with_its_line_rather_than_the_last_one_winning() -> None:
    text = "apiVersion: gymkube.io/v1alpha1\nkind: Experiment\nkind: Experiment\n"
    assert "key 'kind' appears twice in one mapping (line 3)" in problems(text)


def test_deep_nesting_names_the_limit_not_a_python_recursion_error() -> None:
    message = problems("a: " + "[" * 1000 + "]" * 1000)
    assert "nests deeper than 64 levels" in message
    assert "recursion" not in message


def test_a_wide_document_is_refused_as_soon_as_it_passes_the_value_limit() -> None:
    text = "[" + ",".join(["1"] * 400_000) + "]"
    started = time.monotonic()
    message = problems(text)
    assert time.monotonic() - started < 5  # a hang guard; the real figure is well under 1 s
    assert "more than 50000 values" in message


def test_document_numbers_count_empty_documents_so_they_match_the_file() -> None:
    text = "---\n---\n---\napiVersion: gymkube.io/v1alpha1\nkind: Experiment\nmetadata: {name: BAD}\n"
    assert "document 3:" in problems(text)
