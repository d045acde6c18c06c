"""Pure pieces of the emulated API server: label and field selectors, and kubectl's Table answers."""

from __future__ import annotations

import datetime
import functools
import re
from typing import Any

import kmock


def now() -> datetime.datetime:
    """The current time in UTC."""
    return datetime.datetime.now(datetime.UTC)


def _terms(selector: str | None) -> list[str]:
    """`a=b,c in (x,y)` split on the commas outside parentheses."""
    return [term for term in re.split(r",(?![^()]*\))", selector or "") if term.strip()]


def field(obj: Any, path: str) -> Any:
    """The value at a dotted path such as `.status.phase`, or None."""
    return functools.reduce(
        lambda o, key: o.get(key) if isinstance(o, dict) else None, path.lstrip(".").split("."), obj
    )


_LABEL_TERM = re.compile(r"^\s*(!?)([\w./-]+)\s*(?:(==|=|!=)\s*([\w.-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def match_labels(selector: str | None, labels: dict[str, str] | None) -> bool:
    """Whether labels match a label selector (`=`, `==`, `!=`, `in`, `notin`, `key`, `!key`)."""
    labels = labels or {}
    for term in _terms(selector):
        match = _LABEL_TERM.match(term)
        if not match:
            raise kmock.KubernetesError(status=400, reason="BadRequest", message=f"bad label selector {term!r}")
        negated, key, operator, value, set_operator, values = match.groups()
        if negated:
            ok = key not in labels
        elif operator in ("=", "=="):
            ok = labels.get(key) == value
        elif operator == "!=":
            ok = labels.get(key) != value
        elif set_operator:
            ok = (labels.get(key) in {v.strip() for v in values.split(",")}) == (set_operator == "in")
        else:
            ok = key in labels
        if not ok:
            return False
    return True


def match_fields(selector: str | None, obj: dict[str, Any]) -> bool:
    """Whether an object matches a field selector such as `metadata.name=x,metadata.namespace!=y`."""
    for term in _terms(selector):
        match = re.match(r"^\s*([\w.]+)\s*(==|=|!=)\s*(.*?)\s*$", term)
        if not match:
            raise kmock.KubernetesError(status=400, reason="BadRequest", message=f"bad field selector {term!r}")
        path, operator, value = match.groups()
        if (str(field(obj, path) or "") == value) != (operator != "!="):
            return False
    return True


def _age(timestamp: str) -> str:
    seconds = int((now() - datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))).total_seconds())
    return f"{seconds}s" if seconds < 120 else f"{seconds // 60}m" if seconds < 7200 else f"{seconds // 3600}h"


def as_table(printer_columns: list[dict[str, Any]], items: list[dict[str, Any]], version: str) -> dict[str, Any]:
    """The `meta.k8s.io/v1 Table` of items with a CRD's additionalPrinterColumns (NAME and AGE otherwise)."""
    age = {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    columns = [{"name": "Name", "type": "string", "format": "name", "jsonPath": ".metadata.name"}]
    columns += printer_columns or [age]

    def cell(obj: dict[str, Any], column: dict[str, Any]) -> Any:
        value = field(obj, column["jsonPath"])
        return _age(value) if column["type"] == "date" and value else value  # the API server renders ages

    definitions = [
        {"name": c["name"], "type": c["type"], "format": c.get("format", ""), "description": "",
         "priority": c.get("priority", 0)}
        for c in columns
    ]  # fmt: skip
    rows = [
        {"cells": [cell(o, c) for c in columns],
         "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]}}
        for o in items
    ]  # fmt: skip
    return {
        "apiVersion": "meta.k8s.io/v1",
        "kind": "Table",
        "metadata": {"resourceVersion": version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
