"""The release the project ships: sound, traceable, and reproducing the reference figures."""

import json
from datetime import date
from fractions import Fraction

import pytest
from typer.testing import CliRunner

from carbon.cli import app
from carbon.core.calculate import calculate
from carbon.core.model import Book, Confidence, Method
from carbon.registry import FactorRegistry, check_release
from carbon.settings import get_settings
from tests.conftest import SHIPPED_FACTORS

runner = CliRunner()


@pytest.fixture(autouse=True)
def shipped_factors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBON_FACTORS_DIR", str(SHIPPED_FACTORS))
    get_settings.cache_clear()


def test_every_release_folder_is_sound() -> None:
    for release in sorted(p for p in SHIPPED_FACTORS.iterdir() if p.is_dir()):
        assert check_release(release) == []


def test_every_factor_is_traceable(shipped_registry: FactorRegistry) -> None:
    for factor in shipped_registry.factors():
        assert factor.source.publisher and factor.source.document and factor.source.licence, factor.id
        assert factor.table, factor.id
        assert factor.release == shipped_registry.current.id
        if factor.confidence is Confidence.DERIVED:
            assert factor.derivation, factor.id


def test_the_mybank_year_from_the_cli() -> None:
    result = runner.invoke(
        app, ["calculate", "loans", "--count", "283129023", "--on", "2021-12-31", "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["display"] == "9,852.89 tCO2e"
    assert data["emission"] == {"value": "9852.8900004", "unit": "tCO2e"}
    assert data["factor"]["id"] == "mybank.online_loan.2021"
    assert data["factor"]["value"] == "34.80"
    assert data["factor"]["release"] == "2026-12"
    assert data["factor"]["source"]["publisher"].startswith("MYbank")


def test_ant_group_green_computing_from_the_cli() -> None:
    result = runner.invoke(
        app, ["calculate", "energy", "--saved", "46769.74 MWh", "--factor", "ant.green_computing.2021"]
    )
    assert result.exit_code == 0, result.output
    assert "21,883.63 tCO2e" in result.output
    assert "ant.green_computing.2021" in result.output
    assert "release     2026-12" in result.output
    assert "Ant Group" in result.output


def test_china_grid_location_and_market_factors(shipped_registry: FactorRegistry) -> None:
    day = date(2021, 7, 1)
    location = shipped_registry.find("electricity", "CN", day, method=Method.LOCATION)
    market = shipped_registry.find("electricity", "CN", day, method=Method.MARKET)
    assert (location.value, market.value) == (Fraction("0.5568"), Fraction("0.5942"))
    assert calculate("1000", "MWh", location).mg == 556_800_000_000
    ets = shipped_registry.factor("cn.mee.ets_grid_avg.2022")
    assert ets.activity != location.activity  # the ETS series never answers a scope 2 lookup


def test_egrid_co2e_is_derived_exactly_from_the_published_gases(shipped_registry: FactorRegistry) -> None:
    us = shipped_registry.find("electricity", "US", date(2023, 1, 1), method=Method.LOCATION)
    assert us.value == Fraction("771.523") + Fraction("0.057") * 28 + Fraction("0.008") * 265
    assert us.gwp_set == "AR5"
    assert calculate("1", "MWh", us).mg == round(Fraction("775.239") * Fraction("453.59237") * 1000)


def test_unconfirmed_and_unlicensed_values_are_not_shipped(shipped_registry: FactorRegistry) -> None:
    values = {(f.value_text, f.region) for f in shipped_registry.factors()}
    for value, region in [
        ("0.5810", "CN"),  # ETS 2021-2022 factor, unconfirmed
        ("0.6101", "CN"),  # older ETS default, unconfirmed
        ("0.7120", "CN-GRID-NORTH"),  # 2021 regional, unconfirmed
        ("0.13096", "GB"),  # claimed UK 2026, unconfirmed
        ("0.01853", "GB"),  # UK 2025 T&D, unconfirmed
    ]:
        assert (value, region) not in values
    publishers = {f.source.publisher for f in shipped_registry.factors()}
    assert not any("IEA" in p or "carbonfootprint" in p.lower() for p in publishers)


def test_books_are_kept_apart(shipped_registry: FactorRegistry) -> None:
    avoided = {f.id for f in shipped_registry.factors() if f.book is Book.AVOIDED}
    assert avoided == {"mybank.online_loan.2021", "ant.green_computing.2021"}
    params = [f for f in shipped_registry.factors() if f.book is Book.PARAMETER]
    assert all(not f.is_emission_factor and f.gas is None for f in params)
