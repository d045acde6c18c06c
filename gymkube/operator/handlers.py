"""kopf handlers: an Experiment becomes game pods, scaled by load, drained before it goes."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from gymkube.kube import Kube, KubeError, load_configuration
from gymkube.operator.admission import Refused
from gymkube.operator.builders import GROUP, PLURAL, VERSION
from gymkube.operator.children import (
    drain,
    ensure_children,
    failed_status,
    observe_and_scale,
    reconciled_status,
    validate,
)
from gymkube.operator.client import ChildClient, connection_info
from gymkube.operator.metrics import timed
from gymkube.operator.settings import get_settings
from gymkube.operator.status import status_changes
from gymkube.spec.load import ManifestError

LOAD_INTERVAL_S = get_settings().load_interval_s  # kopf takes a timer's interval when it registers the timer


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Keep kopf's bookkeeping in gymkube.io annotations; open the client for children."""
    settings.persistence.finalizer = "gymkube.io/finalizer"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix="gymkube.io")
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix="gymkube.io", key="last-handled-configuration"
    )
    # Warnings and errors become Kubernetes events; routine successes (a timer every few seconds) do not.
    settings.posting.level = logging.WARNING
    # A watch the API server ends now and then is re-established; one that stalls silently is not.
    settings.watching.server_timeout = 300
    try:
        configuration, _namespace = await asyncio.to_thread(load_configuration)  # an exec plugin may run
    except KubeError as exc:
        raise kopf.PermanentError(str(exc)) from None
    memo.kube = ChildClient(Kube(configuration))


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo:
    """kopf connects with the credentials the children's client uses, loaded again at every (re-)login."""
    try:
        configuration, _namespace = load_configuration()
    except KubeError as exc:
        raise kopf.LoginError(str(exc)) from None
    return connection_info(configuration)


@kopf.on.cleanup()
async def close_client(memo: kopf.Memo, **_: Any) -> None:
    """Close the children's client."""
    await memo.kube.close()


@kopf.on.resume(GROUP, VERSION, PLURAL, id="reconcile")
@kopf.on.create(GROUP, VERSION, PLURAL, id="reconcile")
@kopf.on.update(GROUP, VERSION, PLURAL, id="reconcile")
async def reconcile(body: kopf.Body, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any) -> None:
    """Validate and admit the spec, create or patch every child, report the phase."""
    async with timed("reconcile"):
        await _reconcile(body, status, patch, memo)


async def _reconcile(body: kopf.Body, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo) -> None:
    settings = get_settings()
    try:
        experiment = validate(body)
    except ManifestError as exc:
        patch.status.update(status_changes(status, failed_status(body, "; ".join(exc.problems), settings)))
        raise kopf.PermanentError(f"invalid spec: {'; '.join(exc.problems)}") from None
    try:
        statefulset = await ensure_children(memo.kube, body, experiment, settings)
    except Refused as exc:
        patch.status.update(status_changes(status, failed_status(body, str(exc), settings)))
        raise kopf.TemporaryError(f"refused: {exc}", delay=settings.refused_retry_s) from None
    patch.status.update(status_changes(status, reconciled_status(body, experiment, statefulset, settings)))


@kopf.timer(GROUP, VERSION, PLURAL, id="load", interval=LOAD_INTERVAL_S, backoff=LOAD_INTERVAL_S)
async def load(
    body: kopf.Body, meta: kopf.Meta, status: kopf.Status, patch: kopf.Patch, memo: kopf.Memo, **_: Any
) -> None:
    """Read the game pods' load; scale; write the status when it changes."""
    if meta.get("deletionTimestamp") or "observedGeneration" not in status:
        return  # being drained, or not reconciled yet
    try:
        experiment = validate(body)
    except ManifestError:
        return  # reconcile reported it as Failed
    async with timed("load"):
        try:
            report = await observe_and_scale(memo.kube, body, experiment, get_settings())
        except Refused as exc:  # a route to a new pod is taken by a foreign object: no new pod then
            raise kopf.TemporaryError(f"cannot scale: {exc}", delay=get_settings().refused_retry_s) from None
        patch.status.update(status_changes(status, report))


@kopf.on.delete(GROUP, VERSION, PLURAL, id="drain")
async def drain_game_pods(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Scale to zero and wait until every game pod has drained and flushed its data."""
    async with timed("drain"):
        remaining = await drain(memo.kube, body)
        if remaining:
            raise kopf.TemporaryError(f"waiting for {remaining} game pods to drain and flush", delay=2)
