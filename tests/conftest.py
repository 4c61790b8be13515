"""Shared fixtures: the frozen mini factor release, copies of it to break, and the shipped factors."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from carbon.registry import FactorRegistry, load_registry

TEST_FACTORS = Path(__file__).parent / "data" / "factors"
SHIPPED_FACTORS = Path(__file__).resolve().parent.parent / "factors"


@pytest.fixture(scope="session")
def mini_registry() -> FactorRegistry:
    """The frozen mini release (test-1): golden figures do not move when shipped factors change."""
    return load_registry(TEST_FACTORS)


@pytest.fixture(scope="session")
def shipped_registry() -> FactorRegistry:
    """The factor releases the project ships."""
    return load_registry(SHIPPED_FACTORS)


@pytest.fixture
def factors_copy(tmp_path: Path) -> Path:
    """A writable copy of the mini factors folder, for tests that break or extend it."""
    target = tmp_path / "factors"
    shutil.copytree(TEST_FACTORS, target)
    return target


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Remember every skipped test (an expected failure is not a skip)."""
    if report.skipped and not hasattr(report, "wasxfail"):
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI a skipped test fails the run: a missing browser or database must not hide a test."""
    if os.environ.get("CI", "").lower() in ("true", "1", "yes") and _skipped and exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\nCI: {len(_skipped)} test(s) skipped, and CI runs every test:", *_skipped, sep="\n  ")  # noqa: T201
