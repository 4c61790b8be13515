from datetime import date
from fractions import Fraction

import numpy as np
import pytest

from carbon.core.calculate import (
    calculate,
    decimal_text,
    emissions_mg,
    format_amount,
    mg_per_unit,
    round_mg,
    total_mg,
)
from carbon.errors import DimensionError, FactorError, QuantityError
from carbon.registry import FactorRegistry

# Reference figures: MYbank 2021 (34.80 g x 283,129,023 loans = 9,852.89 t) and Ant Group 2021
# (46,769.74 MWh saved, 21,883.63 t avoided).
MYBANK_LOANS_2021 = 283_129_023


def test_mybank_year_is_exact_to_the_milligram(mini_registry: FactorRegistry) -> None:
    factor = mini_registry.find("online_loan", "CN", date(2021, 12, 31))
    emission = calculate(MYBANK_LOANS_2021, "loan", factor)
    assert emission.mg == 9_852_890_000_400
    assert format_amount(emission.mg) == "9852.8900004"
    assert format_amount(emission.mg, places=2) == "9852.89"
    assert emission.factor.release == "test-1"


def test_ant_group_green_computing_needs_the_full_precision_factor(
    mini_registry: FactorRegistry,
) -> None:
    factor = mini_registry.factor("ant.green_computing.2021")
    emission = calculate("46769.74", "MWh", factor)
    assert emission.mg == 21_883_630_000_000
    rounded_factor = round(Fraction("46769.74") * Fraction("0.4679"), 2)
    assert rounded_factor == Fraction("21883.56")  # why the factor is kept unrounded


def test_same_energy_in_other_units_gives_the_same_milligrams(
    mini_registry: FactorRegistry,
) -> None:
    factor = mini_registry.factor("cn.grid.location.2021")
    in_kwh = calculate("46769740", "kWh", factor).mg
    assert calculate("46769.74", "MWh", factor).mg == in_kwh
    assert calculate("168371064000", "kJ", factor).mg == in_kwh
    assert in_kwh == 26_041_391_232_000  # 46,769,740 kWh x 0.5568 kg/kWh


def test_a_per_loan_factor_cannot_be_applied_to_energy(mini_registry: FactorRegistry) -> None:
    factor = mini_registry.factor("mybank.online_loan.2021")
    with pytest.raises(DimensionError) as caught:
        calculate("5", "kWh", factor)
    assert caught.value.expected == "loans"
    assert caught.value.received == "energy"
    assert "kWh" in str(caught.value)


def test_a_parameter_is_not_an_emission_factor(mini_registry: FactorRegistry) -> None:
    with pytest.raises(FactorError, match="parameter"):
        calculate(1, "loan", mini_registry.factor("model.sheets"))


@pytest.mark.parametrize("amount", ["-1", "nan", "inf", "-0.001"])
def test_negative_or_non_finite_activity_is_refused(mini_registry: FactorRegistry, amount: str) -> None:
    with pytest.raises(QuantityError):
        calculate(amount, "kWh", mini_registry.factor("cn.grid.location.2021"))


@pytest.mark.parametrize(
    ("exact", "rounded"),
    [(Fraction(5, 2), 2), (Fraction(7, 2), 4), (Fraction(-5, 2), -2), (Fraction(2501, 1000), 3)],
)
def test_rounding_is_half_to_even(exact: Fraction, rounded: int) -> None:
    assert round_mg(exact) == rounded


def test_columnar_path_checks_the_unit_once_and_matches_scalar(
    mini_registry: FactorRegistry,
) -> None:
    factor = mini_registry.factor("ant.green_computing.2021")
    watt_hours = np.array([0, 1, 2, 999, 123_456_789, 46_769_740_000], dtype=np.int64)
    column = emissions_mg(watt_hours, 3, "kWh", factor)
    scalar = [calculate(Fraction(int(a), 1000), "kWh", factor).mg for a in watt_hours]
    assert column.tolist() == scalar
    with pytest.raises(DimensionError):
        emissions_mg(watt_hours, 0, "loan", factor)


def test_columnar_path_falls_back_to_exact_integers_near_int64_limits(
    mini_registry: FactorRegistry,
) -> None:
    factor = mini_registry.factor("ant.green_computing.2021")
    huge = np.array([9_000_000_000_000, 1], dtype=np.int64)  # 9e12 mWh: intermediates pass 2**63
    assert emissions_mg(huge, 6, "kWh", factor).tolist() == [
        calculate(Fraction(9_000_000_000_000, 10**6), "kWh", factor).mg,
        calculate(Fraction(1, 10**6), "kWh", factor).mg,
    ]


def test_columnar_path_refuses_negative_and_non_integer_columns(
    mini_registry: FactorRegistry,
) -> None:
    factor = mini_registry.factor("cn.grid.location.2021")
    with pytest.raises(QuantityError, match="negative"):
        emissions_mg(np.array([1, -1], dtype=np.int64), 0, "kWh", factor)
    with pytest.raises(QuantityError, match="int64"):
        emissions_mg(np.array([1.5]), 0, "kWh", factor)


def test_mg_per_unit_is_exact(mini_registry: FactorRegistry) -> None:
    assert mg_per_unit(mini_registry.factor("mybank.online_loan.2021"), "loan") == 34_800


def test_totals_never_wrap() -> None:
    big = np.full(4, 2**62, dtype=np.int64)
    assert total_mg(big) == 2**64
    assert total_mg(np.array([], dtype=np.int64)) == 0
    assert total_mg([1, 2, 3]) == 6


def test_decimal_text_writes_exact_decimals_or_refuses() -> None:
    assert decimal_text(Fraction(9_852_890_000_400, 10**9)) == "9852.8900004"
    assert decimal_text(Fraction(-5, 2)) == "-2.5"
    assert decimal_text(Fraction(1, 20)) == "0.05"
    assert format_amount(5, "tCO2e", places=2) == "0.00"
    with pytest.raises(QuantityError, match="places"):
        format_amount(1, "lbCO2e")


def test_columnar_ties_round_to_the_even_total(mini_registry: FactorRegistry) -> None:
    # 0.7675 kWh x 0.5942 kg/kWh = 456,048.5 mg exactly: half-to-even gives 456,048 on both paths
    factor = mini_registry.factor("cn.grid.market.2021")
    assert calculate("0.7675", "kWh", factor).mg == 456_048
    assert emissions_mg(np.array([7675], dtype=np.int64), 4, "kWh", factor).tolist() == [456_048]
