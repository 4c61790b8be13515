# syntax=docker/dockerfile:1
# The carbon-ledger service image.
#
#   docker build -t carbon-ledger .                      # production: python:3.12-slim, wheels from PyPI
#   scripts/build-image                                  # here: a local Debian base, pre-downloaded wheels
#
# Two stages on the same base: the builder makes wheels of the project and its dependencies and installs
# them into a virtual environment at /opt/carbon; the final stage copies only that environment (no pip, no
# compilers, no build tools), checks the factor releases, and runs `carbon serve` as an unprivileged user.
# The venv is made with the base's own `python3 -m venv`, so any base with python3 and venv works
# (python:3.12-slim, or Debian bookworm's python3 3.11 with python3-venv).
#
# Build arguments:
#   BASE_IMAGE   the base image of both stages (default python:3.12-slim-bookworm)
#   PIP_OFFLINE  1: install only from wheelhouse/ in the build context (no index); 0 (default): PyPI too
ARG BASE_IMAGE=python:3.12-slim-bookworm

FROM ${BASE_IMAGE} AS builder
ARG PIP_OFFLINE=0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# .dockerignore lets in only pyproject.toml, README.md, carbon/, factors/ and an optional wheelhouse/.
COPY . .
RUN set -eu; \
    mkdir -p wheelhouse; \
    set --; if [ "$PIP_OFFLINE" = 1 ]; then set -- --no-index; fi; \
    python3 -m venv /opt/carbon; \
    /opt/carbon/bin/python -m pip wheel "$@" --find-links wheelhouse --wheel-dir /wheels ".[postgres]"; \
    /opt/carbon/bin/python -m pip install --no-index --find-links /wheels "carbon-ledger[postgres]"; \
    /opt/carbon/bin/python -m pip uninstall --yes pip setuptools; \
    site="$(/opt/carbon/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"; \
    find "$site" -depth -type d \( -name tests -o -name include \) -exec rm -rf {} +; \
    find "$site" -type f \( -name '*.pxd' -o -name '*.pyx' -o -name '*.h' -o -name '*.cc' \) -delete; \
    /opt/carbon/bin/python -m compileall -q "$site"

FROM ${BASE_IMAGE}
ENV PATH=/opt/carbon/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CARBON_FACTORS_DIR=/opt/carbon-factors \
    CARBON_DATA_DIR=/var/lib/carbon \
    CARBON_HOST=0.0.0.0 \
    CARBON_PORT=8000
RUN useradd --system --user-group --uid 10001 --home-dir /var/lib/carbon --no-create-home \
        --shell /usr/sbin/nologin carbon \
    && mkdir -p /var/lib/carbon \
    && chown carbon:carbon /var/lib/carbon \
    && chmod 0700 /var/lib/carbon
COPY --from=builder /opt/carbon /opt/carbon
COPY --from=builder /src/factors /opt/carbon-factors
# A release with a bad checksum, an overlap or an unknown unit fails the build here, not at start-up.
RUN carbon factors check

# numeric, so a runtime (Kubernetes runAsNonRoot) can tell it is not root without reading /etc/passwd
USER 10001:10001
WORKDIR /var/lib/carbon
VOLUME ["/var/lib/carbon"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/readyz' % os.environ.get('CARBON_PORT', '8000'), timeout=4)"]
# exec form: carbon (uvicorn) is PID 1 and gets SIGTERM itself, finishing in-flight requests before exiting
CMD ["carbon", "serve", "--host", "0.0.0.0"]
