"""What the handlers do: validate and admit an Experiment, make its children match, scale by load, drain."""

from __future__ import annotations

import logging
from typing import Any

import kopf

from gymkube.operator.admission import Refused, foreign_object_problem, image_problem, owned_by, turn_secret_problem
from gymkube.operator.builders import (
    MAX_NAME_LENGTH,
    Manifest,
    child_name,
    experiment_document,
    make_configmap,
    make_headless_service,
    make_ingress,
    make_pod_disruption_budget,
    make_pod_service,
    make_statefulset,
    pod_selector,
)
from gymkube.operator.client import ChildClient
from gymkube.operator.isolation import make_key_secret, make_network_policy
from gymkube.operator.load import PodLoad, desired_replicas, pod_ordinal, read_loads, total
from gymkube.operator.settings import OperatorSettings
from gymkube.operator.status import FAILED, decide_phase, participant_counts, summarize
from gymkube.spec.experiment import Experiment
from gymkube.spec.load import ManifestError, parse_experiment

log = logging.getLogger(__name__)

STATEFULSET = ("apps/v1", "StatefulSet")


def validate(body: kopf.Body) -> Experiment:
    """The Experiment, validated as `gymkube validate` would.

    Raises:
        ManifestError: naming every field that is wrong.
    """
    name = body["metadata"]["name"]
    experiment = parse_experiment(experiment_document(body), name)
    if len(name) > MAX_NAME_LENGTH:
        raise ManifestError(name, [f"metadata.name: at most {MAX_NAME_LENGTH} characters on Kubernetes"])
    return experiment


def experiment_url(body: kopf.Body, settings: OperatorSettings) -> str:
    """Where participants start: the control plane's entry for this experiment."""
    return f"{settings.public_url}/x/{body['metadata']['name']}"


async def admit(kube: ChildClient, body: kopf.Body, experiment: Experiment, settings: OperatorSettings) -> None:
    """Check that the experiment asks for nothing its author may not have: an image off the allowlist, a TURN
    Secret nobody labelled for TURN.

    Raises:
        Refused: naming every problem.
    """
    problems = [problem] if (problem := image_problem(experiment.spec.image, settings.image_patterns)) else []
    turn_secret = experiment.spec.turn.secret
    if turn_secret:
        namespace = body["metadata"]["namespace"]
        secret = await kube.get("v1", "Secret", namespace, turn_secret)
        field = "secretName" if experiment.spec.turn.secret_name else "credentialsSecret"
        if problem := turn_secret_problem(turn_secret, namespace, secret, field):
            problems.append(problem)
    if problems:
        raise Refused("; ".join(problems))


def _ours(obj: Manifest | None, body: kopf.Body) -> Manifest | None:
    """The object when this experiment owns it; None when there is none or it belongs to someone else."""
    return obj if obj is not None and owned_by(obj, body["metadata"]["uid"]) else None


async def _apply(kube: ChildClient, body: kopf.Body, manifest: Manifest) -> Manifest:
    kopf.adopt(manifest, owner=body)
    return await kube.apply(manifest)


async def ensure_children(
    kube: ChildClient, body: kopf.Body, experiment: Experiment, settings: OperatorSettings
) -> Manifest:
    """Admit the experiment, then create or patch every child; returns the StatefulSet as the API server holds it.

    The key Secret and the NetworkPolicy come first and the StatefulSet last, so that no game pod
    ever starts without its key, outside its fence or without its route. An existing StatefulSet
    keeps its replica count (the load timer owns it) unless spec.replicas asks for more; scaling
    down is left to the timer, which only removes empty pods.

    Raises:
        Refused: the experiment asks for what its author may not have, or a child's name is taken by an
            object it does not own (which is left untouched).
    """
    await admit(kube, body, experiment, settings)
    namespace, name = body["metadata"]["namespace"], child_name(body)
    current = await kube.get(*STATEFULSET, namespace, name)
    if current is not None and _ours(current, body) is None:
        raise Refused(foreign_object_problem("StatefulSet", name))
    replicas = experiment.spec.replicas
    if current is not None:
        replicas = max(replicas, int(current["spec"].get("replicas") or 0))
    await _apply(kube, body, make_key_secret(body, settings))
    if settings.network_policy is not None:
        await _apply(kube, body, make_network_policy(body, settings.network_policy))
    await _apply(kube, body, make_configmap(body, settings))
    await _apply(kube, body, make_headless_service(body, settings))
    await _apply(kube, body, make_pod_disruption_budget(body, settings))
    await sync_routes(kube, body, settings, replicas)  # a pod's route exists before the pod
    return await _apply(kube, body, make_statefulset(body, settings, replicas))


async def sync_routes(kube: ChildClient, body: kopf.Body, settings: OperatorSettings, replicas: int) -> None:
    """One Service per ordinal and the Ingress paths to them; a path goes before its Service does."""
    namespace = body["metadata"]["namespace"]
    for ordinal in range(replicas):
        await _apply(kube, body, make_pod_service(body, settings, ordinal))
    if settings.ingress_class:
        await _apply(kube, body, make_ingress(body, settings, replicas))
    for service in await kube.list("v1", "Service", namespace, pod_selector(body)):
        extra = pod_ordinal(service, child_name(body))
        if extra is not None and extra >= replicas and _ours(service, body):
            await kube.delete("v1", "Service", namespace, service["metadata"]["name"])


async def scale(kube: ChildClient, body: kopf.Body, settings: OperatorSettings, current: int, replicas: int) -> None:
    """Change the number of game pods; a pod's route exists before the pod and goes after it."""
    namespace, statefulset_name = body["metadata"]["namespace"], child_name(body)
    if replicas > current:
        await sync_routes(kube, body, settings, replicas)
    await kube.patch(*STATEFULSET, namespace, statefulset_name, {"spec": {"replicas": replicas}})
    if replicas < current:
        await sync_routes(kube, body, settings, replicas)


def reconciled_status(
    body: kopf.Body, experiment: Experiment, statefulset: Manifest, settings: OperatorSettings
) -> dict[str, Any]:
    """The status after a reconcile (the participant counts are the load timer's)."""
    ready = int((statefulset.get("status") or {}).get("readyReplicas") or 0)
    completed = ((body.get("status") or {}).get("participants") or {}).get("completed")
    phase, message = decide_phase(
        experiment.spec,
        ready_replicas=ready,
        replicas=int(statefulset["spec"]["replicas"]),
        completed=completed if isinstance(completed, int) else 0,
    )
    return {
        "phase": phase,
        "message": message,
        "url": experiment_url(body, settings),
        "observedGeneration": body["metadata"].get("generation"),
        "readyReplicas": ready,
    }


def failed_status(body: kopf.Body, message: str, settings: OperatorSettings) -> dict[str, Any]:
    """The status of an experiment whose spec does not validate or is refused (`message` says why)."""
    return {
        "phase": FAILED,
        "message": message,
        "url": experiment_url(body, settings),
        "observedGeneration": body["metadata"].get("generation"),
    }


async def observe_and_scale(
    kube: ChildClient, body: kopf.Body, experiment: Experiment, settings: OperatorSettings
) -> dict[str, Any]:
    """Read the pods' load, scale the StatefulSet to it, and return the status that follows."""
    namespace, statefulset_name = body["metadata"]["namespace"], child_name(body)
    statefulset = _ours(await kube.get(*STATEFULSET, namespace, statefulset_name), body)
    pods = await kube.list("v1", "Pod", namespace, pod_selector(body))
    loads = await read_loads(pods, statefulset_name)
    load = total(loads.values())
    spec = experiment.spec
    replicas = spec.replicas
    if statefulset is not None:
        current = int(statefulset["spec"].get("replicas") or 0)
        replicas = desired_replicas(
            current,
            load.participants,
            loads.get(current - 1, PodLoad()).participants,
            capacity=spec.capacity,
            scale_up_at=settings.scale_up_at,
            minimum=spec.replicas,
            maximum=spec.max_replicas or spec.replicas,
        )
        if replicas != current:
            name = body["metadata"]["name"]
            log.info(
                "experiment %s: %d participants, scaling %d -> %d game pods", name, load.participants, current, replicas
            )
            await scale(kube, body, settings, current, replicas)
    ready = int(((statefulset or {}).get("status") or {}).get("readyReplicas") or 0)
    status = body.get("status") or {}
    counts = participant_counts(load, status.get("participants") or {})
    report: dict[str, Any] = {
        "url": experiment_url(body, settings),
        "readyReplicas": ready,
        "participants": counts,
        "participantsSummary": summarize(counts),
    }
    if status.get("phase") != FAILED:
        phase, message = decide_phase(spec, ready_replicas=ready, replicas=replicas, completed=counts["completed"])
        report.update(phase=phase, message=message)
    return report


async def drain(kube: ChildClient, body: kopf.Body) -> int:
    """Scale the game pods to zero (they drain and flush on SIGTERM); how many pods still exist."""
    namespace, statefulset_name = body["metadata"]["namespace"], child_name(body)
    statefulset = await kube.get(*STATEFULSET, namespace, statefulset_name)
    if statefulset is not None and _ours(statefulset, body) is None:
        return 0  # a StatefulSet of that name is someone else's: none of this experiment's pods ever ran
    if statefulset is not None and statefulset["spec"].get("replicas") != 0:
        await kube.patch(*STATEFULSET, namespace, statefulset_name, {"spec": {"replicas": 0}})
    return len(await kube.list("v1", "Pod", namespace, pod_selector(body)))
