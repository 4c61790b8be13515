# syntax=docker/dockerfile:1
# The carbon-ledger service image.
#
#   docker build -t carbon-ledger .                      # production: python:3.12-slim, wheels from PyPI
#   scripts/build-image                                  # here: a local Debian base, pre-downloaded wheels
#
# Two stages on the same base. The builder installs every dependency from the hashed locks
# (pip --require-hashes --only-binary=:all:: a file whose hash is not in requirements/*.txt is refused, and
# nothing is compiled), builds the project's own wheel, and writes a CycloneDX SBOM of the result. The final
# stage copies only the venv, the factor releases and the SBOM (no pip, compilers or build tools), checks the
# releases, and runs `carbon serve` as an unprivileged user; it runs with a read-only root filesystem,
# every capability dropped and no-new-privileges (README, Container image).
#
# Build arguments:
#   BASE_IMAGE   the base of both stages: python:3.12-slim-bookworm pinned by digest (any base with python3
#                and venv works, e.g. Debian bookworm's python3 3.11 with python3-venv)
#   PIP_OFFLINE  1: install only from requirements/wheelhouse/ in the build context (no index); 0: PyPI too
ARG BASE_IMAGE=python:3.12-slim-bookworm@sha256:a116514e19457bcb7af7efe9c3dd0b9b71e85b317694e7882a1c52aa15a78134

FROM ${BASE_IMAGE} AS builder
ARG PIP_OFFLINE=0
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The locks alone first, so the dependency layer is rebuilt only when a lock changes.
COPY requirements/ requirements/
RUN set -eu; \
    set -- --require-hashes --no-deps --only-binary=:all:; \
    if [ "$PIP_OFFLINE" = 1 ]; then set -- "$@" --no-index --find-links requirements/wheelhouse; fi; \
    python3 -m venv /opt/build; \
    /opt/build/bin/python -m pip install "$@" -r requirements/build.txt; \
    python3 -m venv --without-pip /opt/carbon; \
    /opt/build/bin/python -m pip --python /opt/carbon/bin/python install "$@" -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY carbon/ carbon/
COPY factors/ factors/
RUN set -eu; \
    /opt/build/bin/python -m pip wheel --no-deps --no-build-isolation --no-index --wheel-dir /tmp/project .; \
    /opt/build/bin/python -m pip --python /opt/carbon/bin/python install --no-deps --no-index /tmp/project/*.whl; \
    site="$(/opt/carbon/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"; \
    find "$site" -depth -type d \( -name tests -o -name include \) -exec rm -rf {} +; \
    find "$site" -type f \( -name '*.pxd' -o -name '*.pyx' -o -name '*.h' -o -name '*.cc' \) -delete; \
    # pyarrow's Arrow Flight RPC and S3 filesystem (about 50 MB): the service reads local files only
    rm -f "$site"/pyarrow/libarrow_flight.so* "$site"/pyarrow/libarrow_python_flight.so* \
        "$site"/pyarrow/_flight.*.so "$site"/pyarrow/libarrow_s3.so* "$site"/pyarrow/_s3fs.*.so \
        "$site"/pyarrow/_pyarrow_cpp_tests.*.so; \
    /opt/carbon/bin/python -c 'import carbon.api, carbon.cli, pyarrow.compute, pyarrow.csv, pyarrow.json, pyarrow.parquet'; \
    /opt/carbon/bin/python -m compileall -q "$site"; \
    mkdir -p /sbom; \
    /opt/build/bin/cyclonedx-py environment --output-format JSON --output-reproducible --mc-type application \
        --pyproject pyproject.toml --output-file /sbom/sbom.cdx.json /opt/carbon/bin/python

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
# the SBOM of every Python package in /opt/carbon, also shipped beside the image by scripts/build-image
COPY --from=builder /sbom/sbom.cdx.json /usr/share/doc/carbon-ledger/sbom.cdx.json
# A release with a bad checksum, an overlap or an unknown unit fails the build here, not at start-up.
RUN carbon factors check

LABEL org.opencontainers.image.title="carbon-ledger" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.carbon-ledger.sbom="/usr/share/doc/carbon-ledger/sbom.cdx.json"
# numeric, so a runtime (Kubernetes runAsNonRoot) can tell it is not root without reading /etc/passwd
USER 10001:10001
WORKDIR /var/lib/carbon
VOLUME ["/var/lib/carbon"]
EXPOSE 8000
# No HEALTHCHECK: probes belong to the orchestrator (deploy/: compose healthchecks, Kubernetes probes on
# /healthz and /readyz). Podman runs an image's HEALTHCHECK through systemd timers, so on a host without
# systemd every `podman run` of an image with one printed timer errors.
# exec form: carbon (uvicorn) is PID 1 and gets SIGTERM itself, finishing in-flight requests before exiting
CMD ["carbon", "serve", "--host", "0.0.0.0"]
