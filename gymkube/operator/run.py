"""`gymkube operator`: run the kopf operator for Experiments in every namespace (or one)."""

from __future__ import annotations

import importlib
import logging

import kopf

from gymkube.metrics import serve_metrics
from gymkube.operator.settings import get_settings


def run_operator() -> int:
    """Run until SIGTERM or SIGINT; alone, or as one of several replicas when GYMKUBE_PEERING_NAME is set."""
    settings = get_settings()  # fails here, naming the variable, when a required setting is missing
    kopf.configure(verbose=False)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per API call and per load poll otherwise
    # kopf logs every successful timer run; the load timer runs every few seconds for every experiment.
    logging.getLogger("kopf.objects").addFilter(
        lambda record: not record.getMessage().startswith("Timer 'load' succeeded")
    )
    importlib.import_module("gymkube.operator.handlers")  # registers the handlers with kopf
    importlib.import_module("gymkube.operator.metrics")
    if settings.metrics_port:
        serve_metrics(settings.metrics_port)
    namespace = settings.watch_namespace
    kopf.run(
        clusterwide=namespace is None,
        namespaces=[namespace] if namespace else (),
        standalone=settings.peering_name is None,
        peering_name=settings.peering_name,
        liveness_endpoint=settings.liveness_endpoint,
    )
    return 0
