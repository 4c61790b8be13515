# syntax=docker/dockerfile:1
# The service image: factors checked at build time, non-root, SQLite under /var/lib/carbon by default
# (set CARBON_DATABASE_URL for PostgreSQL). BASE_IMAGE selects the base.
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CARBON_FACTORS_DIR=/app/factors \
    CARBON_DATA_DIR=/var/lib/carbon \
    CARBON_HOST=0.0.0.0 \
    CARBON_PORT=8000

WORKDIR /app
COPY pyproject.toml README.md ./
COPY carbon ./carbon
COPY factors ./factors
RUN python3 -m pip install --no-cache-dir ".[postgres]" \
    && carbon factors check \
    && useradd --system --create-home --home-dir /var/lib/carbon carbon

USER carbon
EXPOSE 8000
ENTRYPOINT ["carbon"]
CMD ["serve"]
