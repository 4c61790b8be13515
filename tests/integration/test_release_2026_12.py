"""Release 2026-12: supersedes 2026-11 by adding Cloud Carbon Footprint's server power coefficients only;
2026-11 stays loadable and pinnable."""

from __future__ import annotations

import json
from datetime import date
from fractions import Fraction

import pytest
from typer.testing import CliRunner

from carbon.cli import app
from carbon.core.model import Book, Confidence
from carbon.registry import FactorRegistry
from carbon.services.calculations import loans_avoided
from carbon.settings import get_settings
from tests.conftest import SHIPPED_FACTORS

runner = CliRunner()

ADDED = {
    "ccf.vcpu_power_min.aws": ("0.74", "W"),
    "ccf.vcpu_power_max.aws": ("3.5", "W"),
    "ccf.vcpu_power_min.gcp": ("0.68", "W"),
    "ccf.vcpu_power_max.gcp": ("4.11", "W"),
    "ccf.vcpu_power_min.azure": ("0.74", "W"),
    "ccf.vcpu_power_max.azure": ("3.54", "W"),
    "ccf.memory_energy": ("0.000392", "kWh/(GB*h)"),
    "ccf.storage_energy.ssd": ("1.2", "Wh/(TB*h)"),
    "ccf.storage_energy.hdd": ("0.65", "Wh/(TB*h)"),
}


@pytest.fixture(autouse=True)
def shipped_factors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBON_FACTORS_DIR", str(SHIPPED_FACTORS))
    get_settings.cache_clear()


def test_2026_12_is_current_and_supersedes_2026_11(shipped_registry: FactorRegistry) -> None:
    assert shipped_registry.current.id == "2026-12"
    assert shipped_registry.current.supersedes == ("2026-11",)
    assert [r.id for r in shipped_registry.releases()] == ["2026-12", "2026-11"]
    old, new = shipped_registry.release("2026-11"), shipped_registry.release("2026-12")
    assert {name: old.files[name] for name in old.files} == {
        n: new.files[n] for n in old.files
    }  # copied unchanged


def test_the_diff_lists_exactly_the_added_factors() -> None:
    result = runner.invoke(app, ["factors", "diff", "2026-11", "2026-12", "--json"])
    assert result.exit_code == 0, result.output
    diff = json.loads(result.output)
    assert {f["id"]: (f["value"], f["unit"]) for f in diff["added"]} == ADDED
    assert (diff["removed"], diff["changed"]) == ([], [])
    text = runner.invoke(app, ["factors", "diff", "2026-11", "2026-12"])
    assert text.output.splitlines()[-1] == f"9 added, 0 removed, 0 changed, {diff['unchanged']} unchanged"


def test_the_coefficients_are_parameters_with_their_source(shipped_registry: FactorRegistry) -> None:
    for factor_id, (value, unit) in ADDED.items():
        factor = shipped_registry.factor(factor_id)
        assert (factor.value, factor.unit, factor.book) == (Fraction(value), unit, Book.PARAMETER)
        assert factor.source.id == "ccf-constants" and factor.confidence is Confidence.PRIMARY
        assert "FootprintEstimationConstants.ts" in factor.table


def test_2026_11_stays_loadable_and_pinnable(shipped_registry: FactorRegistry) -> None:
    pinned = loans_avoided(shipped_registry, 283_129_023, date(2021, 12, 31), release="2026-11")
    assert (pinned.mg, pinned.factor.release) == (9_852_890_000_400, "2026-11")
    assert "ccf.memory_energy" not in shipped_registry.release("2026-11").factors
    result = runner.invoke(
        app, ["calculate", "loans", "--count", "1", "--on", "2021-06-30", "--release", "2026-11"]
    )
    assert result.exit_code == 0 and "release     2026-11" in result.output
