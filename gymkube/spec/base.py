"""Shared building blocks of the Experiment spec: the base models, their YAML form and bounded field types."""

from __future__ import annotations

import json
import re
import string
from typing import Annotated, Any, ClassVar, Self

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints
from pydantic.alias_generators import to_camel


class SpecModel(BaseModel):
    """Base of every spec model: camelCase in YAML, unknown fields refused, immutable.

    The models are also the Python API: build them with Python names (`GymScene(id="play", max_steps=500)`)
    and `to_yaml()` writes the manifest, which loads back equal.
    """

    model_config = ConfigDict(
        extra="forbid",
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
    )

    def to_manifest(self) -> dict[str, Any]:
        """The manifest's data: camelCase names, JSON values, and only the fields that were given.

        A model loaded from YAML writes what the YAML said; one built in Python, the arguments it was given.
        """
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed (Python names), checked as a new model is: `scene.replace(seed=7)`."""
        fields = type(self).model_fields
        unknown = sorted(set(changes) - set(fields))
        if unknown:
            raise TypeError(f"{type(self).__name__} has no field(s) {unknown}")
        given = {fields[name].alias or name: value for name, value in changes.items()}
        return self.model_validate(self.to_manifest() | given)

    def to_yaml(self) -> str:
        """The manifest as YAML (what `gymkube validate` and `kubectl apply` read), in field order."""
        return yaml.dump(self.to_manifest(), Dumper=ManifestDumper, sort_keys=False, allow_unicode=True, width=120)


class TaggedModel(SpecModel):
    """A model a manifest names by tag fields (a scene's or player's `type`; an Experiment's apiVersion and kind).

    The tags have defaults, so that Python can leave them out, and count as given, so that they are always
    written: in YAML a scene without its `type` is refused, as a document without its apiVersion is.
    """

    tags: ClassVar[tuple[str, ...]] = ("type",)

    def model_post_init(self, context: Any, /) -> None:
        self.model_fields_set.update(self.tags)


class NoAnchorDumper(yaml.SafeDumper):
    """Writes shared sub-trees out in full: no `&id001` anchors in a generated manifest."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class ManifestDumper(NoAnchorDumper):
    """Also writes text of several lines (a page's HTML) as a `|` block, as a person would."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # PyYAML falls back to a quoted style by itself where a block cannot hold the text exactly.
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


ManifestDumper.add_representer(str, _text)


def _relative_path(value: str) -> str:
    if value.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", value):
        raise ValueError("must be a path relative to the experiment's files, not absolute")
    parts = value.replace("\\", "/").split("/")
    if any(part in ("..", "") for part in parts):
        raise ValueError("must not contain '..' or empty path segments")
    return value


def _bounded_json(value: dict[str, Any]) -> dict[str, Any]:
    try:
        encoded = json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"must be plain JSON data ({exc})") from None
    if len(encoded) > 16_384:
        raise ValueError("is larger than 16 KiB once encoded as JSON")
    return value


def _url_template(value: str) -> str:
    if not value.startswith(("https://", "http://")):
        raise ValueError("must start with https:// or http://")
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(value) if name is not None}
    except ValueError as exc:
        raise ValueError(f"is not a valid template ({exc})") from None
    unknown = fields - {"code", "participant"}
    if unknown:
        raise ValueError(f"uses unknown placeholder(s) {sorted(unknown)}; allowed: {{code}}, {{participant}}")
    return value


Name = Annotated[
    str,
    StringConstraints(max_length=63, pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"),
]
"""A DNS-1123 label: lower-case letters, digits and '-', at most 63 characters."""

SceneId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
QuestionId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")]
AgentId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,31}$")]
EntryPoint = Annotated[
    str,
    StringConstraints(max_length=200, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$"),
]
"""`module:callable`, importable from the experiment's own files."""

ShortText = Annotated[str, StringConstraints(max_length=200)]
Text = Annotated[str, StringConstraints(max_length=4000)]
Html = Annotated[str, StringConstraints(max_length=100_000)]
RelPath = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_relative_path)]
OnnxPath = Annotated[
    str,
    StringConstraints(min_length=1, max_length=255, pattern=r"\.onnx$"),
    AfterValidator(_relative_path),
]
JsonObject = Annotated[dict[str, Any], AfterValidator(_bounded_json)]
UrlTemplate = Annotated[str, StringConstraints(max_length=2000), AfterValidator(_url_template)]
Color = Annotated[str, StringConstraints(pattern=r"^(#[0-9a-fA-F]{3,8}|[a-z]{3,20})$")]
