"""Reading manifests safely: size and alias limits, YAML or JSON, errors that name the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gymkube.spec.experiment import Experiment

MAX_MANIFEST_BYTES = 1024 * 1024
MAX_NODES = 50_000
MAX_DEPTH = 64
_SCENE_TAGS = {"static", "survey", "gym", "end", "block"}
_PLAYER_TAGS = {"human", "policy", "random", "noop"}


class ManifestError(Exception):
    """A manifest that cannot be used; `problems` are lines of `path: what is wrong`."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__(f"{source}: " + "; ".join(problems))
        self.source = source
        self.problems = problems

    def render(self) -> str:
        """The problems, one per line, each prefixed with the source."""
        return "\n".join(f"{self.source}: {p}" for p in self.problems)


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that stops early on documents too big, too deep, or with duplicate keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._nodes = 0
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: object) -> yaml.Node | None:
        # Counting while composing stops a huge or deeply nested document before it is all
        # parsed (and before Python's recursion limit); aliases are counted after, expanded.
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ValueError(f"the document nests deeper than {MAX_DEPTH} levels")
            node = super().compose_node(parent, index)  # type: ignore[arg-type]
        finally:
            self._depth -= 1
        self._nodes += 1
        if self._nodes > MAX_NODES:
            raise ValueError(f"the document has more than {MAX_NODES} values")
        return node

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    line = key_node.start_mark.line + 1
                    raise ValueError(f"key {key_node.value!r} appears twice in one mapping (line {line})")
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)


def _count_expanded(node: yaml.Node, budget: list[int]) -> None:
    # Aliases share node objects, so walking the graph counts the *expanded* size, which is
    # what a consumer of the loaded data would pay for; stop as soon as the budget is spent.
    budget[0] -= 1
    if budget[0] < 0:
        raise ValueError(f"the document expands to more than {MAX_NODES} values (a YAML alias bomb?)")
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            _count_expanded(child, budget)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            _count_expanded(key, budget)
            _count_expanded(value, budget)


def _yaml_documents(text: str) -> list[Any]:
    """Every document (None for an empty one), so that document numbers match the file."""
    loader = _BoundedLoader(text)
    try:
        documents = []
        while loader.check_node():
            node = loader.get_node()
            if node is not None:
                _count_expanded(node, [MAX_NODES])
            documents.append(None if node is None else loader.construct_document(node))
        return documents
    finally:
        loader.dispose()


def _format_location(loc: tuple[Any, ...]) -> str:
    path = ""
    for i, part in enumerate(loc):
        previous = loc[i - 1] if i else None
        # pydantic names the union member it tried; a tag right after a list index (scenes)
        # or a players key, or a type name after defaultAction, is that and not a field.
        union_member = (
            (part in _SCENE_TAGS and isinstance(previous, int))
            or (part in _PLAYER_TAGS and i >= 2 and loc[i - 2] == "players")
            or (previous == "defaultAction" and part in ("int", "literal['previous']"))
            or str(part).startswith("function-")
        )
        if union_member:
            continue
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(document)"


def _describe(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown field (check the spelling; unknown fields are refused)"
    elif error["type"] == "missing":
        message = "required field is missing"
    value = error.get("input")
    if error["type"] not in ("missing", "extra_forbidden") and isinstance(value, str | int | float):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        message += f" (got {shown})"
    return f"{_format_location(tuple(error['loc']))}: {message}"


def parse_experiment(data: Any, source: str = "manifest") -> Experiment:
    """Validate one already-parsed document as an Experiment.

    Raises:
        ManifestError: listing every problem with its field path.
    """
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else type(data).__name__
        raise ManifestError(source, [f"(document): expected a mapping (an Experiment), got {kind}"])
    # The Python API may leave apiVersion and kind to their defaults; a document must say what it is.
    unnamed = [f"{key}: required field is missing" for key in ("apiVersion", "kind") if key not in data]
    try:
        experiment = Experiment.model_validate(data)
    except ValidationError as exc:
        problems = list(dict.fromkeys(_describe(e) for e in exc.errors(include_url=False)))
        raise ManifestError(source, unnamed + problems) from None
    if unnamed:
        raise ManifestError(source, unnamed)
    return experiment


def load_experiments(text: str | bytes, source: str = "manifest") -> list[Experiment]:
    """Parse YAML (or JSON) text holding one or more Experiment documents.

    Raises:
        ManifestError: for oversize input, malformed YAML, alias bombs or an invalid spec.
    """
    size = len(text.encode() if isinstance(text, str) else text)
    if size > MAX_MANIFEST_BYTES:
        raise ManifestError(source, [f"(file): is {size / 1e6:.1f} MB; manifests are limited to 1 MiB"])
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise ManifestError(source, ["(file): is not UTF-8 text"]) from None
    try:
        documents = _yaml_documents(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ManifestError(source, [f"(file): not valid YAML{at}: {problem}"]) from None
    except (ValueError, RecursionError) as exc:
        raise ManifestError(source, [f"(file): {exc}"]) from None
    if all(d is None for d in documents):
        raise ManifestError(source, ["(file): holds no document"])
    experiments: list[Experiment] = []
    problems: list[str] = []
    for index, document in enumerate(documents):
        if document is None:
            continue
        try:
            experiments.append(parse_experiment(document, source))
        except ManifestError as exc:
            prefix = f"document {index + 1}: " if len(documents) > 1 else ""
            problems.extend(prefix + problem for problem in exc.problems)
    if problems:
        raise ManifestError(source, problems)
    return experiments


def load_experiment_file(path: str | Path) -> list[Experiment]:
    """Read and validate a manifest file, refusing oversize files before reading them."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_MANIFEST_BYTES:
            raise ManifestError(str(path), [f"(file): is {size / 1e6:.1f} MB; manifests are limited to 1 MiB"])
        data = path.read_bytes()
    except OSError as exc:
        raise ManifestError(str(path), [f"(file): cannot be read ({exc.strerror})"]) from None
    return load_experiments(data, str(path))
