# syntax=docker/dockerfile:1
# The gymkube image: one image for the control plane (`gymkube platform`, the default), the
# operator (`gymkube operator`) and the game pods (`gymkube game-pod`).
#   docker build -t gymkube .
#   docker run --rm -p 8000:8000 -e GYMKUBE_DEV=true gymkube      # embedded platform, dev mode

ARG PYTHON_IMAGE=python:3.11-slim

# Build: a wheel of gymkube (with the browser client in gymkube/static as package data) and
# wheels of all its dependencies, so the final stage installs offline from /wheels.
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
# npm fetches the browser runtimes of client/p2p play (Pyodide, onnxruntime-web), pinned and checked.
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY scripts/vendor.py scripts/vendor.py
COPY gymkube/ gymkube/
RUN --mount=type=cache,target=/root/.cache/pip \
    python scripts/vendor.py \
    && pip wheel --wheel-dir /wheels .

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="gymkube" \
      org.opencontainers.image.description="Browser experiments in which people play Gymnasium environments: control plane, operator and game pods." \
      org.opencontainers.image.source="https://github.com/gymkube/gymkube" \
      org.opencontainers.image.url="https://github.com/gymkube/gymkube" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    GYMKUBE_HOST=0.0.0.0 \
    HOME=/tmp

# Bytecode is compiled at install time, so a read-only root filesystem costs nothing at start.
# The check fails the build when the browser client is not inside the installed package.
RUN --mount=type=bind,from=build,source=/wheels,target=/wheels \
    python -m venv /opt/venv \
    && pip install --no-cache-dir --no-index --find-links=/wheels gymkube \
    && python -c "import importlib.resources as r; assert (r.files('gymkube') / 'static' / 'index.html').is_file(), 'gymkube/static is missing from the wheel'" \
    && groupadd --gid 10001 gymkube \
    && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /var/lib/gymkube --shell /usr/sbin/nologin gymkube \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/gymkube

# Everything is compiled already; the venv belongs to root and stays unchanged at run time.
ENV PYTHONDONTWRITEBYTECODE=1
WORKDIR /var/lib/gymkube
USER 10001:10001
EXPOSE 8000 8100

# Kubernetes uses the chart's probes instead; this serves `docker run`. Game pods listen on
# GYMKUBE_PORT (the operator sets it), the control plane on 8000 unless told otherwise.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('GYMKUBE_PORT', '8000') + '/healthz', timeout=4)"

ENTRYPOINT ["gymkube"]
CMD ["platform"]
