"""Experiments: create from a manifest, list with live status, get, update, delete, pause."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Request, Response, status

from gymkube.operator.admission import image_problem
from gymkube.platform.api.deps import CurrentResearcher, Plane, ScopedExperiment, check_scope
from gymkube.platform.api.pagination import PageRequest, link_next, paged
from gymkube.platform.plane import ControlPlane
from gymkube.platform.runtime.base import ExperimentRecord, RuntimeFailure
from gymkube.spec.experiment import Experiment
from gymkube.spec.load import MAX_MANIFEST_BYTES, ManifestError, load_experiments

router = APIRouter(prefix="/api/v1/experiments", tags=["experiments"])

MANIFEST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
        },
        "description": "An Experiment manifest (apiVersion gymkube.io/v1alpha1), YAML or JSON.",
    }
}


async def read_manifest(request: Request) -> Experiment:
    """The one Experiment in the request body; 413/422 with the problems otherwise."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_MANIFEST_BYTES:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "manifests are limited to 1 MiB")
    try:
        experiments = load_experiments(bytes(body), "manifest")
    except ManifestError as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail={"message": "the manifest is not valid", "problems": exc.problems},
        ) from None
    if len(experiments) != 1:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "send exactly one Experiment per request")
    return experiments[0]


def experiment_view(plane: ControlPlane, record: ExperimentRecord) -> dict[str, Any]:
    """An experiment as the API shows it: spec summary plus live status."""
    stats = plane.stats(record.name)
    alive = [p for p in stats["pods"] if p["alive"]]
    if record.status.get("phase") in ("Failed", "Completed"):
        phase = record.status["phase"]
    elif plane.target_reached(record.name):
        phase = "Completed"
    else:
        phase = "Paused" if record.paused else ("Running" if alive else "Pending")
    return {
        "name": record.name,
        "title": record.experiment.spec.title,
        "phase": phase,
        "paused": record.paused,
        "generation": record.generation,
        "url": f"{plane.settings.public_url.rstrip('/')}/x/{record.name}",
        "readyReplicas": len(alive),
        "replicas": record.experiment.spec.replicas,
        "participants": {k: stats[k] for k in ("waiting", "participants", "games", "completed", "dropped")},
        "created": record.created,
    }


async def _apply(plane: ControlPlane, experiment: Experiment) -> ExperimentRecord:
    allowed = plane.settings.allowed_images
    if allowed and (problem := image_problem(experiment.spec.image, allowed)):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail={"message": "this platform does not run that", "problems": [problem]},
        )
    try:
        record = await plane.runtime.apply(experiment)
    except RuntimeFailure as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=str(exc)) from None
    plane.sync_router(record.name)
    return record


@router.post("", status_code=status.HTTP_201_CREATED, openapi_extra=MANIFEST_BODY)
async def create_experiment(request: Request, plane: Plane, researcher: CurrentResearcher) -> dict[str, Any]:
    """Create an experiment from a manifest."""
    experiment = await read_manifest(request)
    check_scope(researcher, experiment.name)
    if plane.runtime.get(experiment.name) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, f"experiment {experiment.name!r} exists; PUT to update it")
    return experiment_view(plane, await _apply(plane, experiment))


@router.get("")
async def list_experiments(
    plane: Plane,
    researcher: CurrentResearcher,
    page: Annotated[PageRequest, paged("experiments")],
    request: Request,
    response: Response,
) -> list[dict[str, Any]]:
    """The experiments this token may see, with live status, by name (`Link: rel="next"` when more follow)."""
    await plane.refresh()  # another replica may have just created one
    visible = sorted(
        (r for r in plane.runtime.records() if researcher.can(r.name) and r.name > page.after), key=lambda r: r.name
    )
    records, cursor = page.take(visible, lambda record: record.name)
    link_next(request, response, cursor)
    return [experiment_view(plane, r) for r in records]


@router.get("/{name}")
async def get_experiment(record: ScopedExperiment, plane: Plane) -> dict[str, Any]:
    """One experiment: its manifest and live status."""
    manifest = record.experiment.model_dump(mode="json", by_alias=True, exclude_none=True)
    return experiment_view(plane, record) | {"manifest": manifest}


@router.put("/{name}", openapi_extra=MANIFEST_BODY)
async def update_experiment(request: Request, record: ScopedExperiment, plane: Plane) -> dict[str, Any]:
    """Replace the spec; pods roll without killing running games."""
    experiment = await read_manifest(request)
    if experiment.name != record.name:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "metadata.name must match the URL")
    return experiment_view(plane, await _apply(plane, experiment))


@router.delete("/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_experiment(record: ScopedExperiment, plane: Plane) -> Response:
    """Stop the experiment's pods after their data is flushed; the data stays in storage."""
    await plane.runtime.delete(record.name)
    plane.routers.pop(record.name, None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{name}/pause")
async def pause_experiment(record: ScopedExperiment, plane: Plane) -> dict[str, Any]:
    """No new participants; those already in finish."""
    return experiment_view(plane, await plane.runtime.set_paused(record.name, True))


@router.post("/{name}/resume")
async def resume_experiment(record: ScopedExperiment, plane: Plane) -> dict[str, Any]:
    """Admit new participants again."""
    return experiment_view(plane, await plane.runtime.set_paused(record.name, False))


@router.get("/{name}/stats")
async def experiment_stats(record: ScopedExperiment, plane: Plane) -> dict[str, Any]:
    """Waiting, playing, completed and dropped counts, per-pod load and recent errors."""
    return plane.stats(record.name)
