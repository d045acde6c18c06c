"""The operator's admission rules as pure functions: images, TURN Secrets, ownership (no cluster)."""

from __future__ import annotations

from typing import Any

import pytest

from gymkube.operator.admission import image_problem, owned_by, turn_secret_problem

ALLOWED = ["ghcr.io/gymkube/gymkube:0.1.0", "registry.example.org/lab-a/*"]


@pytest.mark.parametrize(
    "image",
    [
        None,  # the platform's own image
        "ghcr.io/gymkube/gymkube:0.1.0",
        "registry.example.org/lab-a/forage:2",
        "registry.example.org/lab-a/team/forage@sha256:" + "a" * 64,
    ],
)
def test_the_platform_image_and_images_under_an_allowed_path_run(image: str | None):
    assert image_problem(image, ALLOWED) is None


@pytest.mark.parametrize(
    "image",
    [
        "ghcr.io/gymkube/gymkube:0.1.1",
        "ghcr.io/gymkube/gymkube",  # no tag: whatever `latest` is today
        "registry.example.org/lab-ab/forage:2",  # a longer path sharing a prefix
        "registry.example.org/lab-b/forage:2",
        "registry.example.org.evil.com/lab-a/forage:2",
        "docker.io/library/alpine:3",
    ],
)
def test_any_other_image_is_refused_naming_what_is_allowed(image: str):
    assert image_problem(image, ALLOWED) == (
        f"spec.image: {image} is not allowed on this platform "
        "(allowed: ghcr.io/gymkube/gymkube:0.1.0, registry.example.org/lab-a/*)"
    )


@pytest.mark.parametrize(
    "image",
    ["registry.example.org/lab-a/../lab-b/x", "registry.example.org/lab-a/X", "registry.example.org/lab-a/x\n", ""],
)
def test_something_a_container_runtime_would_not_read_as_an_image_is_refused_before_any_pattern(image: str):
    assert image_problem(image, ["*"]) == f"spec.image: {image!r} is not an image reference"


@pytest.mark.parametrize(
    "secret",
    [
        None,
        {"metadata": {"name": "s"}},
        {"metadata": {"name": "s", "labels": {"gymkube.io/turn": "false"}}},
        {"metadata": {"name": "s", "labels": {"gymkube.io/turns": "true"}}},
        # another experiment's key Secret, labelled through its Experiment's labels (kopf copies them)
        {
            "metadata": {
                "name": "s",
                "labels": {"gymkube.io/turn": "true", "app.kubernetes.io/managed-by": "gymkube-operator"},
            }
        },
    ],
)
def test_a_turn_secret_needs_the_label_and_a_missing_one_reads_the_same(secret: dict[str, Any] | None):
    assert turn_secret_problem("s", "lab", secret) == (
        "spec.turn.secretName: there is no Secret s labelled gymkube.io/turn=true in namespace lab "
        "(whoever manages that Secret can label it: kubectl label secret s gymkube.io/turn=true)"
    )
    labelled = {"metadata": {"name": "s", "labels": {"gymkube.io/turn": "true"}}}
    assert turn_secret_problem("s", "lab", labelled) is None
    assert turn_secret_problem("s", "lab", secret, "credentialsSecret").startswith(
        "spec.turn.credentialsSecret: there is no Secret s labelled gymkube.io/turn=true"
    )


def test_an_object_is_owned_only_through_an_owner_reference_to_that_uid():
    assert owned_by({"metadata": {"ownerReferences": [{"uid": "a"}, {"uid": "b"}]}}, "b")
    assert not owned_by({"metadata": {"ownerReferences": [{"uid": "a"}]}}, "b")
    assert not owned_by({"metadata": {"labels": {"gymkube.io/experiment": "x"}}}, "b")
