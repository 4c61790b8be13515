"""Shared fixtures: the frozen mini factor release, copies of it to break, and the shipped factors."""

from __future__ import annotations

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
