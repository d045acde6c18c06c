"""The CRD is generated from the model, checked in, structural, and agrees with the model."""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import jsonschema
import kubernetes_validate
import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field

from gymkube.spec import (
    Block,
    EndScene,
    GymScene,
    HumanPlayer,
    ManifestError,
    NoopPlayer,
    PolicyPlayer,
    RandomPlayer,
    StaticScene,
    SurveyScene,
    UnityScene,
    load_experiment_file,
    parse_experiment,
)
from gymkube.spec.crd import CRD_PATH, build_crd, render_crd_yaml, structural_schema

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
KUBERNETES_VERSION = "1.30"

Schema = dict[str, Any]

# What an OpenAPI v3.0 node in a CRD may hold here; anything else is a typo or unsupported.
OPENAPI_KEYS = {
    "description", "type", "nullable", "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields", "enum", "default", "pattern", "minLength",
    "maxLength", "minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum", "minItems",
    "maxItems", "minProperties", "maxProperties", "required", "properties",
    "additionalProperties", "items", "anyOf", "allOf", "oneOf", "not",
}  # fmt: skip
JUNCTORS = ("anyOf", "allOf", "oneOf", "not")
# Allowed at the root of the schema when the status subresource is enabled.
ROOT_KEYS = {"description", "type", "required", "properties", "x-kubernetes-preserve-unknown-fields"}

GOOD = """
apiVersion: gymkube.io/v1alpha1
kind: Experiment
metadata: {name: crd-check, labels: {team: rl}}
spec:
  title: Everything once
  recruitment: {participantParam: PROLIFIC_PID, recordParams: [STUDY_ID]}
  data: {destination: s3://bucket/prefix}
  scenes:
  - {type: static, id: welcome, html: "<p>Hi</p>", minTimeS: 1.5}
  - type: survey
    id: about
    questions:
    - {id: age, type: number, prompt: "Age?", min: 18, max: 99, integer: true}
    - {id: hand, type: single, prompt: "Hand?", options: [left, right]}
  - type: block
    id: games
    order: counterbalance
    scenes:
    - type: gym
      id: alone
      environment: {id: CartPole-v1, kwargs: {render_mode: null, nested: {a: [1, 2]}}}
      players: {p0: {type: human, color: "#ff0000"}}
      controls: {keys: {ArrowLeft: 0, ArrowRight: 1, " ": 0}, defaultAction: previous}
      fps: 60
    - type: gym
      id: with-ai
      environment: {entryPoint: "envs:make", kwargs: {}}
      players:
        p0: {type: human}
        ai: {type: policy, file: models/ai.onnx, temperature: 0.5, seed: 4294967295}
        r: {type: random, seed: null}
        n: {type: noop, action: 2}
      controls: {keys: {a: 0}, defaultAction: 1}
      rendering: {mode: rgb, rgbFormat: png, width: 640, height: 480}
  - {type: end, completionCode: ABC123, redirectUrl: "https://example.org/?cc={code}"}
"""


def openapi_schema() -> Schema:
    return build_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def walk(node: Schema, path: str = "") -> Iterator[tuple[str, Schema]]:
    """Every schema node with a readable path."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{*}}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[*]")
    for junctor in JUNCTORS:
        branches = node.get(junctor, [])
        for i, branch in enumerate([branches] if isinstance(branches, dict) else branches):
            yield from walk(branch, f"{path}<{junctor}{i}>")


def structural_problems(root: Schema) -> list[str]:
    """Kubernetes' structural-schema rules (and the OpenAPI subset a CRD accepts)."""
    problems = [f"(root): {key} is not allowed at the root" for key in set(root) - ROOT_KEYS]
    if root.get("type") != "object":
        problems.append("(root): type must be object")
    for path, node in walk(root):
        where = path or "(root)"
        for key in set(node) - OPENAPI_KEYS:
            problems.append(f"{where}: {key} is not supported")
        int_or_string = node.get("x-kubernetes-int-or-string") is True
        preserve = node.get("x-kubernetes-preserve-unknown-fields")
        if preserve is not None and preserve is not True:
            problems.append(f"{where}: x-kubernetes-preserve-unknown-fields must be true")
        in_junctor = "<" in path
        if in_junctor:
            for key in ("type", "description", "default", "nullable", "additionalProperties"):
                if key in node:
                    problems.append(f"{where}: {key} is not allowed inside {JUNCTORS}")
        elif int_or_string:
            if "type" in node:
                problems.append(f"{where}: int-or-string must not have a type")
        elif node.get("type") not in ("object", "array", "string", "integer", "number", "boolean"):
            if not preserve:
                problems.append(f"{where}: no type (nor int-or-string/preserve-unknown-fields)")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{where}: properties and additionalProperties are exclusive")
        if "additionalProperties" in node and not isinstance(node["additionalProperties"], dict):
            problems.append(f"{where}: additionalProperties must be a schema")
        if node.get("type") == "array" and not isinstance(node.get("items"), dict):
            problems.append(f"{where}: an array needs one items schema")
        if node.get("uniqueItems"):
            problems.append(f"{where}: uniqueItems is forbidden")
        if isinstance(node.get("exclusiveMinimum"), int | float) and not isinstance(node.get("exclusiveMinimum"), bool):
            problems.append(f"{where}: exclusiveMinimum must be a flag in OpenAPI v3.0")
        missing = set(node.get("required", [])) - set(node.get("properties", {}))
        if missing and not in_junctor:
            problems.append(f"{where}: required names unknown properties {sorted(missing)}")
        for junctor in JUNCTORS:
            branches = node.get(junctor, [])
            for branch in [branches] if isinstance(branches, dict) else branches:
                extra = set(branch.get("properties", {})) - set(node.get("properties", {}))
                if extra:
                    problems.append(f"{where}: {junctor} specifies {sorted(extra)} not outside")
        if isinstance(node.get("pattern"), str) and re.search(r"\(\?[=!<]|\\[1-9]", node["pattern"]):
            problems.append(f"{where}: pattern uses lookaround/backrefs, which RE2 lacks")
    meta = root.get("properties", {}).get("metadata", {})
    if set(meta.get("properties", {})) - {"name", "generateName"}:
        problems.append(".metadata: only name and generateName may be constrained")
    if set(meta) - {"type", "properties"} or meta.get("type", "object") != "object":
        problems.append(".metadata: nothing but type object and name/generateName is allowed")
    for name in ("apiVersion", "kind", "metadata"):
        for path, node in walk(root.get("properties", {}).get(name, {}), f".{name}"):
            if "default" in node:
                problems.append(f"{path}: no defaults in {name}")
    return problems


def to_json_schema(node: Schema, closed: bool = True) -> Schema:
    """A small OpenAPI v3.0 (Kubernetes) -> JSON Schema shim for `jsonschema`.

    `closed` refuses fields the schema does not name, as kubectl's strict field validation
    does (the API server would otherwise prune them silently).
    """
    out: Schema = {}
    for key in ("enum", "pattern", "minLength", "maxLength", "minimum", "maximum", "minItems",
                "maxItems", "minProperties", "maxProperties", "required"):  # fmt: skip
        if key in node:
            out[key] = copy.deepcopy(node[key])
    if node.get("x-kubernetes-int-or-string"):
        out["type"] = ["integer", "string"]
    elif "type" in node:
        out["type"] = [node["type"], "null"] if node.get("nullable") else node["type"]
    if node.get("nullable") and "enum" in out:
        out["enum"].append(None)
    for flag, bound in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if node.get(flag) is True:
            out[flag] = out.pop(bound)
    if "properties" in node:
        out["properties"] = {k: to_json_schema(v) for k, v in node["properties"].items()}
        if closed and not node.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = to_json_schema(node["additionalProperties"])
    if "items" in node:
        out["items"] = to_json_schema(node["items"])
    return out


def crd_validator() -> jsonschema.Draft202012Validator:
    root = openapi_schema()
    schema = to_json_schema(root)
    # ObjectMeta has many fields the CRD does not list; the API server knows them.
    schema["properties"]["metadata"] = to_json_schema(root["properties"]["metadata"], False)
    return jsonschema.Draft202012Validator(schema)


def schema_errors(document: Any) -> list[str]:
    errors = crd_validator().iter_errors(document)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]


def test_the_checked_in_crd_is_what_gymkube_crd_prints() -> None:
    checked_in = (REPO / CRD_PATH).read_text(encoding="utf-8")
    assert checked_in == render_crd_yaml(), f"{CRD_PATH} is stale: run `gymkube crd > {CRD_PATH}`"


def test_the_crd_yaml_is_one_plain_document_marked_generated() -> None:
    text = render_crd_yaml()
    assert text.startswith("# Generated by `gymkube crd`")
    assert "do not edit" in text.splitlines()[0]
    assert "&id" not in text and "*id" not in text
    assert list(yaml.safe_load_all(text)) == [build_crd()]
    assert render_crd_yaml() == text


def test_the_crd_names_the_experiment_resource() -> None:
    crd = build_crd()
    assert crd["apiVersion"] == "apiextensions.k8s.io/v1"
    assert crd["metadata"]["name"] == "experiments.gymkube.io"
    spec = crd["spec"]
    assert spec["group"] == "gymkube.io"
    assert spec["scope"] == "Namespaced"
    names = spec["names"]
    assert (names["kind"], names["plural"], names["singular"]) == (
        "Experiment",
        "experiments",
        "experiment",
    )
    assert names["shortNames"] == ["gx"]
    (version,) = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}


def test_kubectl_get_shows_phase_ready_participants_url_and_age() -> None:
    (version,) = build_crd()["spec"]["versions"]
    columns = [(c["name"], c["type"], c["jsonPath"]) for c in version["additionalPrinterColumns"]]
    assert columns == [
        ("Phase", "string", ".status.phase"),
        ("Ready", "integer", ".status.readyReplicas"),
        ("Participants", "string", ".status.participantsSummary"),
        ("URL", "string", ".status.url"),
        ("Age", "date", ".metadata.creationTimestamp"),
    ]


def test_the_schema_requires_spec_and_describes_the_status() -> None:
    root = openapi_schema()
    assert root["required"] == ["spec"]
    assert set(root["properties"]) == {"apiVersion", "kind", "metadata", "spec", "status"}
    status = root["properties"]["status"]
    assert status["x-kubernetes-preserve-unknown-fields"] is True
    assert {"phase", "message", "readyReplicas", "participants", "participantsSummary", "url",
            "observedGeneration"} <= set(status["properties"])  # fmt: skip


def test_the_schema_is_structural() -> None:
    assert structural_problems(openapi_schema()) == []


def test_the_structural_check_catches_what_kubernetes_refuses() -> None:
    bad = {
        "type": "object",
        "properties": {
            "a": {"$ref": "#/$defs/A"},
            "b": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "c": {"type": "object", "properties": {"x": {"type": "string"}},
                  "additionalProperties": False},
            "d": {"type": "object", "oneOf": [{"properties": {"y": {"type": "string"}}}]},
        },
    }  # fmt: skip
    found = "\n".join(structural_problems(bad))
    assert ".a: $ref is not supported" in found
    assert ".b: no type" in found
    assert ".b<anyOf0>: type is not allowed" in found
    assert ".c: properties and additionalProperties are exclusive" in found
    assert ".d: oneOf specifies ['y'] not outside" in found


def test_every_default_in_the_schema_is_valid_for_its_own_field() -> None:
    checked = 0
    for path, node in walk(openapi_schema()):
        if "default" in node:
            jsonschema.validate(node["default"], to_json_schema(node))
            checked += 1
        assert node.get("default", 0) is not None, f"{path}: null default"
    assert checked > 10


def test_union_variants_share_one_object_without_defaults_that_leak_across_types() -> None:
    scenes = openapi_schema()["properties"]["spec"]["properties"]["scenes"]["items"]
    assert scenes["type"] == "object"
    assert scenes["required"] == ["type"]
    assert scenes["properties"]["type"]["enum"] == ["static", "survey", "gym", "unity", "end", "block"]
    # The end scene's default id ("end") and html must not be written into other scenes.
    assert all("default" not in field for field in scenes["properties"].values())
    block_items = scenes["properties"]["scenes"]["items"]
    assert block_items["properties"]["type"]["enum"] == ["static", "survey", "gym", "unity"]
    players = scenes["properties"]["players"]["additionalProperties"]
    assert players["properties"]["type"]["enum"] == ["human", "policy", "random", "noop"]
    assert players["properties"]["temperature"]["exclusiveMinimum"] is True
    controls = scenes["properties"]["controls"]["properties"]
    assert controls["defaultAction"]["x-kubernetes-int-or-string"] is True
    assert "type" not in controls["defaultAction"]
    kwargs = scenes["properties"]["environment"]["properties"]["kwargs"]
    assert kwargs == {"type": "object", "x-kubernetes-preserve-unknown-fields": True}


def test_the_crd_document_is_a_valid_kubernetes_object() -> None:
    used = kubernetes_validate.validate(build_crd(), KUBERNETES_VERSION, strict=True)
    assert used == KUBERNETES_VERSION


def test_kubernetes_validate_would_catch_a_misspelt_schema_keyword() -> None:
    crd = build_crd()
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-int-or-strin"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(crd, KUBERNETES_VERSION, strict=True)


def test_a_manifest_using_every_scene_and_player_type_passes_the_model_and_the_schema() -> None:
    document = yaml.safe_load(GOOD)
    parse_experiment(document)
    assert schema_errors(document) == []


def test_there_are_example_manifests() -> None:
    assert EXAMPLES, "examples/*.yaml: expected at least one example manifest"


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_each_example_passes_the_model_and_the_crd_schema(path: Path) -> None:
    load_experiment_file(path)
    for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if document is not None:
            assert schema_errors(document) == []


def _bad(change: str) -> Any:
    document = yaml.safe_load(GOOD)
    games = document["spec"]["scenes"][2]["scenes"]
    if change == "fps 500":
        games[0]["fps"] = 500
    elif change == "fps as text":
        games[0]["fps"] = "fast"
    elif change == "unknown scene type":
        document["spec"]["scenes"][0]["type"] = "video"
    elif change == "unknown player type":
        games[1]["players"]["ai"]["type"] = "oracle"
    elif change == "scenes not a list":
        document["spec"]["scenes"] = {"type": "end"}
    elif change == "misspelt spec field":
        document["spec"]["capacityy"] = 3
    elif change == "bad name":
        document["metadata"]["name"] = "Not_A_Label"
    elif change == "no spec":
        del document["spec"]
    elif change == "temperature 0":
        games[1]["players"]["ai"]["temperature"] = 0
    return document


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ("fps 500", "spec.scenes.2.scenes.0.fps"),
        ("fps as text", "spec.scenes.2.scenes.0.fps"),
        ("unknown scene type", "spec.scenes.0.type"),
        ("unknown player type", "spec.scenes.2.scenes.1.players.ai.type"),
        ("scenes not a list", "spec.scenes"),
        ("misspelt spec field", "spec"),
        ("bad name", "metadata.name"),
        ("no spec", ": 'spec' is a required property"),
        ("temperature 0", "spec.scenes.2.scenes.1.players.ai.temperature"),
    ],
)
def test_the_crd_schema_refuses_bad_manifests_like_the_model_does(change: str, field: str) -> None:
    document = _bad(change)
    errors = schema_errors(document)
    assert errors, f"the CRD schema accepted a manifest with {change}"
    assert any(e.startswith(field) for e in errors), errors
    with pytest.raises(ManifestError):
        parse_experiment(document)


def _aliases(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


@pytest.mark.parametrize(
    ("where", "models"),
    [
        ("scenes", [StaticScene, SurveyScene, GymScene, UnityScene, EndScene, Block]),
        ("block scenes", [StaticScene, SurveyScene, GymScene, UnityScene]),
        ("players", [HumanPlayer, PolicyPlayer, RandomPlayer, NoopPlayer]),
    ],
)
def test_every_field_of_every_union_variant_is_in_the_merged_schema(where: str, models: list[type[BaseModel]]) -> None:
    scenes = openapi_schema()["properties"]["spec"]["properties"]["scenes"]["items"]
    node = {
        "scenes": scenes,
        "block scenes": scenes["properties"]["scenes"]["items"],
        "players": scenes["properties"]["players"]["additionalProperties"],
    }[where]
    expected = set().union(*(_aliases(m) for m in models))
    assert set(node["properties"]) == expected


class _Cat(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["cat"]
    lives: int = Field(9, gt=0, le=9)
    size: str = "small"


class _Dog(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: Literal["dog"]
    size: int = 3
    name: Annotated[str, Field(max_length=10)] | None = None


class _Owner(BaseModel):
    model_config = ConfigDict(extra="forbid")
    pet: Annotated[_Cat | _Dog, Field(discriminator="type")]
    tags: dict[str, int] = Field(default_factory=dict)
    anything: dict[str, Any] = Field(default_factory=dict)
    mode: int | Literal["auto"] = "auto"
    note: str | None = None


def test_the_converter_merges_a_union_and_falls_back_where_variants_disagree() -> None:
    schema = structural_schema(_Owner)
    assert structural_problems(schema) == []
    pet = schema["properties"]["pet"]
    assert pet["required"] == ["type"]
    assert pet["properties"]["type"]["enum"] == ["cat", "dog"]
    # `size` is a string for cats and an integer for dogs: anything goes, the model decides.
    size = pet["properties"]["size"]
    assert size["x-kubernetes-preserve-unknown-fields"] is True
    assert "type" not in size and "default" not in size
    assert pet["properties"]["lives"] == {
        "description": "(type: cat)", "type": "integer", "minimum": 0,
        "exclusiveMinimum": True, "maximum": 9,
    }  # fmt: skip
    assert pet["properties"]["name"]["nullable"] is True
    assert schema["properties"]["tags"]["additionalProperties"] == {"type": "integer"}
    assert schema["properties"]["anything"] == {
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": True,
    }
    mode = schema["properties"]["mode"]
    assert mode["x-kubernetes-int-or-string"] is True and mode["default"] == "auto"
    assert schema["properties"]["note"] == {"type": "string", "nullable": True}


class _Tree(BaseModel):
    children: list[_Tree] = Field(default_factory=list)


def test_the_converter_refuses_what_it_cannot_express() -> None:
    with pytest.raises(ValueError, match="recursive"):
        structural_schema(_Tree)

    class Unique(BaseModel):
        values: set[int]

    with pytest.raises(ValueError, match="uniqueItems"):
        structural_schema(Unique)
