"""What the operator refuses an Experiment's author: other images, unlabelled Secrets, objects not theirs.

Whoever may create an Experiment in a namespace must not gain the operator's rights through it.
The rules are pure functions, shared with the control plane's REST API (which refuses a
disallowed image with a 422 before the Experiment reaches the cluster). Their wording is stable:
it is what `status.message` and the API's `detail` say.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

from gymkube.operator.builders import MANAGED_BY

TURN_LABEL = "gymkube.io/turn"
"""A Secret carries this label (value "true") before an Experiment may mount it as its TURN secret."""

# The image reference grammar of the distribution project (domain[:port]/path[:tag][@digest]), so a
# pattern is matched against something a container runtime reads the same way.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
IMAGE_REFERENCE = re.compile(
    rf"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]+)?/)?{_COMPONENT}(?:/{_COMPONENT})*"
    r"(?::[\w][\w.-]{0,127})?(?:@sha256:[0-9a-f]{64})?"
)


class Refused(Exception):
    """The operator will not run the Experiment as it stands; the message says why and what to do."""


def image_problem(image: str | None, allowed: Sequence[str]) -> str | None:
    """Why `spec.image` may not run here, or None (no image means the platform's own, always allowed).

    `allowed` holds patterns in which `*` matches any characters, `/` included: `registry.example.org/lab-a/*`
    allows every image under that path.
    """
    if image is None:
        return None
    if not IMAGE_REFERENCE.fullmatch(image):
        return f"spec.image: {image!r} is not an image reference"
    if any(fnmatchcase(image, pattern) for pattern in allowed):
        return None
    return f"spec.image: {image} is not allowed on this platform (allowed: {', '.join(allowed)})"


def turn_secret_problem(
    name: str, namespace: str, secret: Mapping[str, Any] | None, field: str = "secretName"
) -> str | None:
    """Why the Secret named by `spec.turn.secretName` (or `credentialsSecret`) may not be mounted, or None.

    The same words whether the Secret is missing or unlabelled: an Experiment's status must not tell
    its author which Secrets exist in a namespace they may not read. The operator's own Secrets
    (experiments' keys) never qualify, whatever labels kopf copied onto them from their Experiment.
    """
    labels = ((secret or {}).get("metadata") or {}).get("labels") or {}
    ours = labels.get(MANAGED_BY[0]) == MANAGED_BY[1]
    if secret is not None and labels.get(TURN_LABEL) == "true" and not ours:
        return None
    return (
        f"spec.turn.{field}: there is no Secret {name} labelled {TURN_LABEL}=true in namespace {namespace} "
        f"(whoever manages that Secret can label it: kubectl label secret {name} {TURN_LABEL}=true)"
    )


def owned_by(obj: Mapping[str, Any], uid: str) -> bool:
    """Whether the object names the Experiment with this uid among its owners."""
    references = (obj.get("metadata") or {}).get("ownerReferences") or []
    return any(reference.get("uid") == uid for reference in references)


def foreign_object_problem(kind: str, name: str) -> str:
    """What the status says when a child's name is taken by an object this Experiment does not own."""
    return (
        f"{kind} {name} exists and does not belong to this experiment (no ownerReference to it); "
        "the operator changes nothing it does not own: delete or rename that object, or rename the experiment"
    )
