# syntax=docker/dockerfile:1
# A first image: the CLI and factors, checked at build time. BASE_IMAGE selects the base.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CARBON_FACTORS_DIR=/app/factors \
    CARBON_DATA_DIR=/var/lib/carbon

WORKDIR /app
COPY pyproject.toml README.md ./
COPY carbon ./carbon
COPY factors ./factors
RUN python3 -m pip install --no-cache-dir . \
    && carbon factors check \
    && useradd --system --create-home --home-dir /var/lib/carbon carbon

USER carbon
ENTRYPOINT ["carbon"]
CMD ["factors", "releases"]
