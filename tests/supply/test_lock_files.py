"""The hashed lock files agree with pyproject.toml, pin every package with a hash, and are what CI runs."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "requirements"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
_ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9._-]+)==(?P<version>\S+)(?:\s*;\s*(?P<marker>[^\\]+?))?\s*\\?$")


@dataclass
class Pin:
    name: str
    version: Version
    marker: Marker | None
    hashes: list[str] = field(default_factory=list)

    def applies(self) -> bool:
        return self.marker is None or self.marker.evaluate()


def pins(lock: str) -> list[Pin]:
    """Read a `uv pip compile --generate-hashes` file: one entry per pin, its hashes on the lines after."""
    found: list[Pin] = []
    for line in (LOCKS / lock).read_text().splitlines():
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        if text.startswith("--hash="):
            found[-1].hashes.append(text.removeprefix("--hash=").rstrip(" \\"))
            continue
        match = _ENTRY.match(text)
        assert match, f"{lock}: not a pinned requirement: {text!r}"
        marker = Marker(match["marker"]) if match["marker"] else None
        found.append(Pin(canonicalize_name(match["name"]), Version(match["version"]), marker))
    return found


def by_name(lock: str) -> dict[str, list[Pin]]:
    table: dict[str, list[Pin]] = {}
    for pin in pins(lock):
        table.setdefault(pin.name, []).append(pin)
    return table


@pytest.mark.parametrize("lock", ["runtime.txt", "dev.txt", "build.txt"])
def test_every_pin_is_exact_and_hashed(lock: str) -> None:
    found = pins(lock)
    assert len(found) > 10
    for pin in found:
        assert pin.hashes, f"{lock}: {pin.name}=={pin.version} has no hash"
        assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for h in pin.hashes), pin.hashes


def check_requirements(lock: str, requirements: list[str]) -> None:
    table = by_name(lock)
    for text in requirements:
        wanted = Requirement(text)
        name = canonicalize_name(wanted.name)
        assert name in table, f"{text} is not in requirements/{lock}: run scripts/lock"
        for pin in table[name]:
            assert wanted.specifier.contains(pin.version, prereleases=True), (
                f"requirements/{lock} pins {name}=={pin.version}, outside {text}: run scripts/lock"
            )
        for extra in wanted.extras:  # psycopg[binary] needs psycopg-binary beside it
            assert any(n.startswith(name) and n != name for n in table), f"{text}: extra {extra} not locked"


def test_runtime_lock_holds_the_dependencies_and_the_postgres_extra() -> None:
    check_requirements("runtime.txt", PROJECT["dependencies"] + PROJECT["optional-dependencies"]["postgres"])


def test_dev_lock_holds_everything_bootstrap_installs() -> None:
    extras = PROJECT["optional-dependencies"]
    check_requirements(
        "dev.txt", PROJECT["dependencies"] + extras["dev"] + extras["postgres"] + extras["otel"]
    )


def test_build_lock_holds_the_builder_tools() -> None:
    wanted = [line for line in (LOCKS / "build.in").read_text().splitlines() if line and line[0] != "#"]
    check_requirements("build.txt", wanted)


def test_the_image_ships_the_versions_ci_tests() -> None:
    dev = {(pin.name, str(pin.marker)): pin.version for pin in pins("dev.txt")}
    for pin in pins("runtime.txt"):
        assert dev.get((pin.name, str(pin.marker))) == pin.version, (
            f"{pin.name}: runtime and dev locks differ"
        )


def installed_closure() -> set[str]:
    """The names of the installed distributions carbon-ledger[postgres] needs here, followed transitively."""
    seen: set[str] = set()
    todo = [("carbon-ledger", frozenset({"postgres"}))]
    while todo:
        name, extras = todo.pop()
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            environments = [{"extra": extra} for extra in extras] or [{"extra": ""}]
            if requirement.marker and not any(requirement.marker.evaluate(env) for env in environments):
                continue
            child = canonicalize_name(requirement.name)
            if child not in seen:
                seen.add(child)
                todo.append((child, frozenset(requirement.extras)))
    return seen


def test_the_runtime_lock_is_exactly_what_the_service_needs_here_and_is_installed() -> None:
    runtime = [pin for pin in pins("runtime.txt") if pin.applies()]
    assert {pin.name for pin in runtime} == installed_closure()
    for pin in runtime:
        assert Version(metadata.version(pin.name)) == pin.version, f"{pin.name}: .venv differs from the lock"
