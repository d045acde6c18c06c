"""Loading Experiment manifests: good ones load, each kind of mistake is named by its field path."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from gymkube.spec import (
    Block,
    EndScene,
    GymScene,
    ManifestError,
    PolicyPlayer,
    StaticScene,
    SurveyScene,
    load_experiment_file,
    load_experiments,
)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))

MINIMAL = """
apiVersion: gymkube.io/v1alpha1
kind: Experiment
metadata: {name: minimal}
spec:
  scenes:
  - {type: end}
"""

GOOD: dict[str, Any] = {
    "apiVersion": "gymkube.io/v1alpha1",
    "kind": "Experiment",
    "metadata": {"name": "good-one", "namespace": "lab", "labels": {"team": "rl"}},
    "spec": {
        "title": "Cart and pole",
        "scenes": [
            {"type": "static", "id": "welcome", "html": "<h1>Welcome</h1>"},
            {
                "type": "gym",
                "id": "play",
                "environment": {"id": "CartPole-v1", "kwargs": {"max_episode_steps": 200}},
                "players": {
                    "p0": {"type": "human", "label": "You"},
                    "ai": {"type": "policy", "file": "models/ai.onnx"},
                },
                "controls": {"keys": {"ArrowLeft": 0, "ArrowRight": 1}},
                "fps": 30,
            },
            {
                "type": "survey",
                "id": "after",
                "questions": [
                    {"id": "fun", "type": "likert", "prompt": "Was it fun?"},
                    {"id": "pick", "type": "single", "prompt": "Pick", "options": ["a", "b"]},
                ],
            },
            {
                "type": "block",
                "id": "more",
                "order": "random",
                "scenes": [{"type": "static", "id": "pause", "file": "pages/pause.html"}],
            },
            {"type": "end", "redirectUrl": "https://app.prolific.com/done?cc={code}"},
        ],
    },
}

PLAY = 1  # index of the gym scene in GOOD's flow


def manifest(change: Callable[[dict[str, Any]], Any] | None = None) -> dict[str, Any]:
    """A deep copy of GOOD, optionally changed in place by `change`."""
    document = copy.deepcopy(GOOD)
    if change is not None:
        change(document)
    return document


def problems(document: Any) -> list[str]:
    """What loading `document` (written out as YAML) reports; fails if it loads."""
    with pytest.raises(ManifestError) as caught:
        load_experiments(yaml.safe_dump(document), "test.yaml")
    assert caught.value.problems, "a ManifestError without problems"
    assert str(caught.value).startswith("test.yaml: ")
    return caught.value.problems


def assert_problem(document: Any, path: str, *words: str) -> None:
    found = problems(document)
    matching = [p for p in found if p.startswith(f"{path}: ")]
    assert matching, f"no problem at {path!r}; got {found}"
    assert any(all(w.lower() in p.lower() for w in words) for p in matching), (
        f"no problem at {path!r} mentions {words}; got {matching}"
    )


def scene(document: dict[str, Any], index: int = PLAY) -> dict[str, Any]:
    return document["spec"]["scenes"][index]


# --- good manifests ---------------------------------------------------------------------


def test_a_minimal_manifest_with_only_an_end_scene_loads_with_defaults() -> None:
    (experiment,) = load_experiments(MINIMAL)
    assert experiment.name == "minimal"
    assert experiment.spec.capacity == 200
    (end,) = experiment.spec.scenes
    assert isinstance(end, EndScene)
    assert end.id == "end" and end.completion_code == "auto"


def test_a_manifest_with_every_scene_type_loads_into_typed_scenes() -> None:
    (experiment,) = load_experiments(yaml.safe_dump(GOOD))
    kinds = [type(s) for s in experiment.spec.scenes]
    assert kinds == [StaticScene, GymScene, SurveyScene, Block, EndScene]
    (play,) = experiment.spec.gym_scenes()
    assert play.human_agent == "p0"
    assert isinstance(play.players["ai"], PolicyPlayer)
    assert [s.id for s in experiment.spec.all_scenes()] == [
        "welcome", "play", "after", "pause", "end",
    ]  # fmt: skip


def test_a_json_manifest_loads_because_json_is_yaml() -> None:
    (experiment,) = load_experiments(json.dumps(GOOD))
    assert experiment.name == "good-one"


def test_bytes_and_several_documents_load_in_order() -> None:
    second = manifest(lambda d: d["metadata"].update(name="second"))
    text = yaml.safe_dump(GOOD) + "---\n" + yaml.safe_dump(second)
    assert [e.name for e in load_experiments(text.encode())] == ["good-one", "second"]


def test_server_written_metadata_and_status_are_accepted() -> None:
    def as_kubectl_returns_it(d: dict[str, Any]) -> None:
        d["metadata"].update(uid="1234", resourceVersion="9", generation=2)
        d["status"] = {"phase": "Running", "readyReplicas": 1}

    (experiment,) = load_experiments(yaml.safe_dump(manifest(as_kubectl_returns_it)))
    assert experiment.name == "good-one"


def test_defaultaction_may_be_previous() -> None:
    document = manifest(lambda d: scene(d)["controls"].update(defaultAction="previous"))
    (experiment,) = load_experiments(yaml.safe_dump(document))
    assert experiment.spec.gym_scenes()[0].controls.default_action == "previous"


def test_there_are_example_manifests_to_load() -> None:
    assert EXAMPLES, "examples/*.yaml: expected at least one example manifest"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_each_example_manifest_loads(path: Path) -> None:
    assert load_experiment_file(path)


# --- unknown fields -------------------------------------------------------------------


def test_an_unknown_top_level_field_is_refused_by_name() -> None:
    assert_problem(manifest(lambda d: d.update(specs={})), "specs", "unknown field")


def test_an_unknown_spec_field_is_refused_by_path() -> None:
    assert_problem(manifest(lambda d: d["spec"].update(titel="x")), "spec.titel", "unknown field")


def test_an_unknown_field_in_a_scene_is_refused_by_path() -> None:
    document = manifest(lambda d: scene(d, 0).update(htlm="<p>typo</p>"))
    assert_problem(document, "spec.scenes[0].htlm", "unknown field")


def test_an_unknown_field_in_a_scene_inside_a_block_is_refused_by_path() -> None:
    document = manifest(lambda d: scene(d, 3)["scenes"][0].update(buton="Go"))
    assert_problem(document, "spec.scenes[3].scenes[0].buton", "unknown field")


def test_an_unknown_field_in_a_player_is_refused_by_path() -> None:
    document = manifest(lambda d: scene(d)["players"]["ai"].update(colour="red"))
    assert_problem(document, "spec.scenes[1].players.ai.colour", "unknown field")


def test_an_unknown_field_in_a_player_whose_agent_id_is_a_tag_name_keeps_the_agent_id() -> None:
    def human_agent(d: dict[str, Any]) -> None:
        scene(d)["players"] = {"human": {"type": "human", "colour": "red"}}

    assert_problem(manifest(human_agent), "spec.scenes[1].players.human.colour", "unknown field")


# --- names, flow and scenes -----------------------------------------------------------


@pytest.mark.parametrize("name", ["Bad_Name", "UPPER", "-leading", "trailing-", "a.b", "x" * 64])
def test_metadata_name_must_be_a_dns_1123_label(name: str) -> None:
    document = manifest(lambda d: d["metadata"].update(name=name))
    assert_problem(document, "metadata.name", repr(name)[:20])


def test_metadata_name_is_required() -> None:
    assert_problem(manifest(lambda d: d["metadata"].pop("name")), "metadata.name", "required")


def test_two_end_scenes_are_refused() -> None:
    def two_ends(d: dict[str, Any]) -> None:
        d["spec"]["scenes"].insert(0, {"type": "end", "id": "early-end"})

    assert_problem(manifest(two_ends), "spec", "exactly one 'end' scene")


def test_an_end_scene_that_is_not_last_is_refused() -> None:
    def end_first(d: dict[str, Any]) -> None:
        d["spec"]["scenes"].insert(0, d["spec"]["scenes"].pop())

    assert_problem(manifest(end_first), "spec", "must come last")


def test_a_flow_without_an_end_scene_is_refused() -> None:
    assert_problem(manifest(lambda d: d["spec"]["scenes"].pop()), "spec", "'end' scene")


def test_duplicate_scene_ids_are_refused_naming_the_id() -> None:
    document = manifest(lambda d: scene(d, 2).update(id="welcome"))
    assert_problem(document, "spec", "'welcome'", "used twice")


def test_a_scene_id_repeated_inside_a_block_is_refused() -> None:
    document = manifest(lambda d: scene(d, 3)["scenes"][0].update(id="play"))
    assert_problem(document, "spec", "'play'", "used twice")


def test_a_static_scene_with_both_html_and_file_is_refused() -> None:
    document = manifest(lambda d: scene(d, 0).update(file="pages/welcome.html"))
    assert_problem(document, "spec.scenes[0]", "exactly one of 'html' or 'file'")


def test_a_static_scene_with_neither_html_nor_file_is_refused() -> None:
    document = manifest(lambda d: scene(d, 0).pop("html"))
    assert_problem(document, "spec.scenes[0]", "exactly one of 'html' or 'file'")


def test_a_single_choice_question_without_options_is_refused() -> None:
    document = manifest(lambda d: scene(d, 2)["questions"][1].pop("options"))
    assert_problem(document, "spec.scenes[2].questions[1]", "'single'", "two 'options'")


def test_options_on_a_likert_question_are_refused() -> None:
    document = manifest(lambda d: scene(d, 2)["questions"][0].update(options=["a", "b"]))
    assert_problem(document, "spec.scenes[2].questions[0]", "do not apply")


def test_an_unknown_scene_type_is_refused_listing_the_known_ones() -> None:
    document = manifest(lambda d: scene(d, 0).update(type="video"))
    assert_problem(document, "spec.scenes[0]", "'video'", "static", "gym")


def test_a_gym_scene_without_a_human_player_is_refused() -> None:
    document = manifest(lambda d: scene(d)["players"].pop("p0"))
    assert_problem(document, "spec.scenes[1]", "at least one 'human' player")


def test_a_gym_scene_with_two_humans_loads_with_default_group_rules() -> None:
    (experiment,) = load_experiments(
        yaml.safe_dump(manifest(lambda d: scene(d)["players"].update(p1={"type": "human"})))
    )
    (play,) = experiment.spec.gym_scenes()
    assert play.human_agents == ["p0", "p1"] and play.group_size == 2 and experiment.spec.group_size == 2
    rules = play.grouping
    assert (rules.on_wait_timeout, rules.on_dropout, rules.roles, rules.max_wait_s) == ("end", "end", "random", 120)


def test_group_rules_on_a_scene_with_one_human_are_refused() -> None:
    document = manifest(lambda d: scene(d).update(group={"maxWaitS": 30}))
    assert_problem(document, "spec.scenes[1]", "'group' is for scenes with two or more")


def test_a_fallback_rule_names_the_human_seats_without_a_fallback_player() -> None:
    def two_humans(d: dict[str, Any]) -> None:
        scene(d)["players"].update(p1={"type": "human"}, p2={"type": "human", "fallback": {"type": "random"}})
        scene(d)["group"] = {"onDropout": "fallback"}

    assert_problem(manifest(two_humans), "spec.scenes[1]", "onDropout: fallback", "missing for p0, p1")


def test_a_fallback_player_must_be_an_ai_player() -> None:
    document = manifest(lambda d: scene(d)["players"]["p0"].update(fallback={"type": "human"}))
    assert_problem(document, "spec.scenes[1].players.p0.fallback", "policy", "random", "noop")


def test_an_ending_code_with_spaces_is_refused() -> None:
    document = manifest(lambda d: d["spec"].update(endings={"waitTimeout": {"code": "NO WAY", "html": "<p>x</p>"}}))
    assert_problem(document, "spec.endings.waitTimeout.code", "pattern")


def test_a_gym_scene_without_keys_is_refused() -> None:
    document = manifest(lambda d: scene(d)["controls"].update(keys={}))
    assert_problem(document, "spec.scenes[1].controls", "controls.keys")


def test_an_environment_with_both_id_and_entry_point_is_refused() -> None:
    document = manifest(lambda d: scene(d)["environment"].update(entryPoint="envs:make"))
    assert_problem(document, "spec.scenes[1].environment", "exactly one of 'id'")


def test_a_redirect_with_an_unknown_placeholder_is_refused_naming_it() -> None:
    document = manifest(lambda d: scene(d, 4).update(redirectUrl="https://x.org/?pid={pid}"))
    assert_problem(document, "spec.scenes[4].redirectUrl", "unknown placeholder", "'pid'")


def test_a_redirect_that_is_not_http_is_refused() -> None:
    document = manifest(lambda d: scene(d, 4).update(redirectUrl="javascript:alert(1)"))
    assert_problem(document, "spec.scenes[4].redirectUrl", "https://")


@pytest.mark.parametrize("path", ["/etc/passwd.onnx", "C:/models/ai.onnx", "\\\\host\\ai.onnx"])
def test_an_absolute_policy_file_is_refused(path: str) -> None:
    document = manifest(lambda d: scene(d)["players"]["ai"].update(file=path))
    assert_problem(document, "spec.scenes[1].players.ai.file", "relative")


@pytest.mark.parametrize("path", ["../secrets/ai.onnx", "models/../../ai.onnx", "models//ai.onnx"])
def test_a_policy_file_climbing_out_with_dot_dot_is_refused(path: str) -> None:
    document = manifest(lambda d: scene(d)["players"]["ai"].update(file=path))
    assert_problem(document, "spec.scenes[1].players.ai.file", "'..'")


def test_a_policy_file_that_is_not_onnx_is_refused() -> None:
    document = manifest(lambda d: scene(d)["players"]["ai"].update(file="models/ai.pt"))
    assert_problem(document, "spec.scenes[1].players.ai.file", "onnx")


def test_environment_kwargs_over_16_kib_are_refused() -> None:
    big = {"blob": "x" * 16_400}
    document = manifest(lambda d: scene(d)["environment"].update(kwargs=big))
    assert_problem(document, "spec.scenes[1].environment.kwargs", "16 KiB")


def test_environment_kwargs_just_under_16_kib_load() -> None:
    fits = {"blob": "x" * 16_000}
    document = manifest(lambda d: scene(d)["environment"].update(kwargs=fits))
    assert load_experiments(yaml.safe_dump(document))


def test_environment_kwargs_that_are_not_json_data_are_refused() -> None:
    text = yaml.safe_dump(GOOD).replace("max_episode_steps: 200", "when: 2024-01-01 10:00:00")
    with pytest.raises(ManifestError) as caught:
        load_experiments(text)
    assert any(p.startswith("spec.scenes[1].environment.kwargs: ") for p in caught.value.problems)


@pytest.mark.parametrize(("fps", "limit"), [(0, "greater than or equal to 1"), (61, "60"),
                                            (500, "60")])  # fmt: skip
def test_validate_names_the_field_and_reason_for_a_bad_fps(fps: int, limit: str) -> None:
    document = manifest(lambda d: scene(d).update(fps=fps))
    assert_problem(document, "spec.scenes[1].fps", limit, f"got {fps}")


@pytest.mark.parametrize(
    ("field", "value", "path", "words"),
    [
        ("fps", "fast", "spec.scenes[1].fps", ("valid integer", "'fast'")),
        ("episodes", [1], "spec.scenes[1].episodes", ("valid integer",)),
        ("players", ["p0"], "spec.scenes[1].players", ("dictionary",)),
        ("title", 42, "spec.scenes[1].title", ("valid string",)),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_by_path(
    field: str, value: Any, path: str, words: tuple[str, ...]
) -> None:
    assert_problem(manifest(lambda d: scene(d).update({field: value})), path, *words)


def test_spec_scenes_given_as_a_mapping_is_refused() -> None:
    document = manifest(lambda d: d["spec"].update(scenes={"type": "end"}))
    assert_problem(document, "spec.scenes", "valid list")


def test_a_default_action_that_is_neither_a_number_nor_previous_is_refused() -> None:
    document = manifest(lambda d: scene(d)["controls"].update(defaultAction="later"))
    found = problems(document)
    assert any(p.startswith("spec.scenes[1].controls.defaultAction: ") for p in found), found


def test_several_problems_are_all_reported_at_once() -> None:
    def many(d: dict[str, Any]) -> None:
        scene(d).update(fps=500)
        scene(d, 0).update(htlm="x")
        d["spec"]["capacity"] = 0

    found = problems(manifest(many))
    for path in ("spec.scenes[1].fps", "spec.scenes[0].htlm", "spec.capacity"):
        assert any(p.startswith(path + ": ") for p in found), (path, found)


def test_wrong_api_version_and_kind_are_refused() -> None:
    document = manifest(lambda d: d.update(apiVersion="gymkube.io/v1", kind="Job"))
    found = problems(document)
    assert any(p.startswith("apiVersion: ") for p in found), found
    assert any(p.startswith("kind: ") for p in found), found


# --- input that is not a manifest at all ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (b"\xff\xfe\x00garbage\x80", "not UTF-8"),
        (": : :", "not valid YAML"),
        ("- a\n- b\n", "got a list"),
        ("just words", "got str"),
        ("", "no document"),
        ("# only a comment\n", "no document"),
        ("a: !!python/object/apply:os.system [echo hi]", "not valid YAML"),
    ],
)
def test_input_that_is_not_a_manifest_is_refused_with_a_file_level_message(text: str | bytes, words: str) -> None:
    with pytest.raises(ManifestError) as caught:
        load_experiments(text, "input.yaml")
    (problem,) = caught.value.problems
    assert problem.startswith(("(file): ", "(document): ")), problem
    assert words in problem


def test_a_yaml_alias_bomb_is_refused_without_expanding_it() -> None:
    lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 10) + "]")
    with pytest.raises(ManifestError) as caught:
        load_experiments("\n".join(lines))
    assert "alias bomb" in caught.value.problems[0]


def test_text_over_one_mib_is_refused_before_parsing() -> None:
    with pytest.raises(ManifestError) as caught:
        load_experiments("a: [" + "1," * 600_000 + "1]")
    assert "limited to 1 MiB" in caught.value.problems[0]


def test_a_bad_document_among_several_is_named_by_its_number() -> None:
    bad = manifest(lambda d: scene(d).update(fps=500))
    text = yaml.safe_dump(GOOD) + "---\n" + yaml.safe_dump(bad)
    with pytest.raises(ManifestError) as caught:
        load_experiments(text)
    assert caught.value.problems == [
        "document 2: spec.scenes[1].fps: Input should be less than or equal to 60 (got 500)"
    ]


def test_a_missing_file_is_refused_as_unreadable(tmp_path: Path) -> None:
    with pytest.raises(ManifestError) as caught:
        load_experiment_file(tmp_path / "nope.yaml")
    assert caught.value.problems == ["(file): cannot be read (No such file or directory)"]


def two_humans_grouped(**group: Any) -> Callable[[dict[str, Any]], None]:
    def change(d: dict[str, Any]) -> None:
        scene(d)["players"].update(p1={"type": "human"})
        scene(d)["group"] = group

    return change


def test_who_plays_with_whom_loads_a_matchmaker_and_its_rules() -> None:
    document = manifest(two_humans_grouped(matchmaker="pairing.rules:ByScore", partners="new",
                                           sameCondition={"assignment": True}))  # fmt: skip
    (experiment,) = load_experiments(yaml.safe_dump(document))
    (play,) = experiment.spec.gym_scenes()
    rules = play.grouping
    assert (rules.matchmaker, rules.partners, rules.same_condition.assignment) == ("pairing.rules:ByScore", "new", True)


@pytest.mark.parametrize(
    ("group", "where", "words"),
    [
        ({"matchmaker": "random"}, "spec.scenes[1].group.matchmaker", "pattern"),
        ({"matchmaker": "os:system; rm"}, "spec.scenes[1].group.matchmaker", "pattern"),
        ({"matchmaker": "a:" + "b" * 300}, "spec.scenes[1].group.matchmaker", "at most 200"),
        ({"partners": "old"}, "spec.scenes[1].group.partners", "'any' or 'new'"),
        ({"sameCondition": {}}, "spec.scenes[1].group.sameCondition", "exactly one of 'param'"),
        ({"sameCondition": {"param": "X", "assignment": True}}, "spec.scenes[1].group.sameCondition", "exactly one"),
        ({"sameCondition": {"param": "COND"}}, "spec", "'recruitment.recordParams'"),
    ],
)
def test_bad_matchmaking_rules_are_named(group: dict[str, Any], where: str, words: str) -> None:
    assert_problem(manifest(two_humans_grouped(**group)), where, words)


def test_the_connection_limit_warns_before_it_excludes() -> None:
    document = manifest(lambda d: d["spec"].update(attention={"maxRttMs": 300, "warnAfterS": 10, "excludeAfterS": 5}))
    assert_problem(document, "spec.attention", "'excludeAfterS' must be at least 'warnAfterS'")
    document = manifest(lambda d: d["spec"].update(attention={"maxRttMs": 0}))
    assert_problem(document, "spec.attention.maxRttMs", "greater than or equal to 1")
