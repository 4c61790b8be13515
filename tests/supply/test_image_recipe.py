"""The Dockerfile read statically (CI builds no image; scripts/build-image does): what it installs, how."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
INSTRUCTIONS = re.sub(r"\\\n\s*", " ", re.sub(r"(?m)^\s*#.*\n", "", DOCKERFILE)).splitlines()


def instructions(name: str) -> list[str]:
    return [line for line in INSTRUCTIONS if line.split(" ", 1)[0] == name]


def test_the_base_image_is_pinned_by_digest() -> None:
    (default,) = [line for line in instructions("ARG") if line.startswith("ARG BASE_IMAGE=")]
    assert re.fullmatch(r"ARG BASE_IMAGE=python:3\.12-slim-bookworm@sha256:[0-9a-f]{64}", default)
    assert instructions("FROM") == ["FROM ${BASE_IMAGE} AS builder", "FROM ${BASE_IMAGE}"]


def test_every_dependency_is_installed_from_a_lock_with_hashes_and_no_source_build() -> None:
    runs = " ".join(instructions("RUN"))
    assert "--require-hashes --no-deps --only-binary=:all:" in runs
    assert "-r requirements/build.txt" in runs and "-r requirements/runtime.txt" in runs
    installs = re.findall(r"pip (?:--python \S+ )?install ([^;]*)", runs)
    assert len(installs) == 3
    for arguments in installs:  # the locks with their hashes, or the project's own wheel with --no-deps
        assert '"$@" -r requirements/' in arguments or arguments.startswith(
            "--no-deps --no-index /tmp/project/"
        )


def test_the_image_carries_its_sbom_and_runs_unprivileged_without_a_healthcheck() -> None:
    assert "cyclonedx-py environment" in " ".join(instructions("RUN"))
    assert (
        "COPY --from=builder /sbom/sbom.cdx.json /usr/share/doc/carbon-ledger/sbom.cdx.json" in INSTRUCTIONS
    )
    assert instructions("USER") == ["USER 10001:10001"]
    assert instructions("HEALTHCHECK") == []  # probes are the orchestrator's (deploy/)
    assert instructions("CMD") == ['CMD ["carbon", "serve", "--host", "0.0.0.0"]']


def test_the_build_context_lets_in_the_locks_and_not_the_local_state() -> None:
    allowed = [line[1:] for line in (ROOT / ".dockerignore").read_text().splitlines() if line.startswith("!")]
    assert sorted(allowed) == ["README.md", "carbon/", "factors/", "pyproject.toml", "requirements/"]
