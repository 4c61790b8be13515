"""Golden ties: display rounding (tCO2e to 2 places) and per-record milligrams go half-to-even."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import numpy as np
import pytest

from carbon.core.calculate import calculate, emissions_mg, format_amount, round_mg
from carbon.registry import FactorRegistry, load_registry
from carbon.services.views import display_amount
from tests.oracle import VARIED_FACTORS

T = 10**9  # mg per tCO2e


@pytest.mark.parametrize(
    ("mg", "shown"),
    [
        (5 * 10**6, "0.00"),  # 0.005 t: a tie, to the even 0.00 (half-up would say 0.01)
        (15 * 10**6, "0.02"),  # 0.015 t: to the even 0.02
        (25 * 10**6, "0.02"),  # 0.025 t: to the even 0.02 (half-up: 0.03)
        (35 * 10**6, "0.04"),
        (9_852_885 * 10**6, "9852.88"),  # 9,852.885 t: to the even 9,852.88
        (9_852_895 * 10**6, "9852.90"),
        (5 * 10**6 + 1, "0.01"),  # just past the tie
        (5 * 10**6 - 1, "0.00"),
        (-25 * 10**6, "-0.02"),  # a reversal's tie, to the even too
    ],
)
def test_display_ties_round_half_to_even(mg: int, shown: str) -> None:
    assert format_amount(mg, "tCO2e", places=2) == shown


def test_display_amount_groups_thousands_after_rounding_the_tie() -> None:
    assert display_amount(12_345_125 * 10**6) == "12,345.12 tCO2e"
    assert display_amount(12_345_135 * 10**6) == "12,345.14 tCO2e"
    assert display_amount(2_500_000, "kgCO2e", places=0) == "2 kgCO2e"  # 2.5 kg to the even 2
    assert display_amount(3_500_000, "kgCO2e", places=0) == "4 kgCO2e"


@pytest.mark.parametrize(
    ("exact", "rounded"), [("0.5", 0), ("1.5", 2), ("2.5", 2), ("-0.5", 0), ("-1.5", -2)]
)
def test_milligram_ties_round_half_to_even(exact: str, rounded: int) -> None:
    assert round_mg(Fraction(exact)) == rounded


@pytest.fixture(scope="module")
def varied() -> FactorRegistry:
    return load_registry(VARIED_FACTORS)


def test_a_loan_priced_on_a_half_milligram_goes_to_the_even_one(varied: FactorRegistry) -> None:
    """CN-ZJ in vary-1 is 41.2345 g = 41,234.5 mg a loan; CN-GD from July 29.0015 g = 29,001.5 mg."""
    zj = varied.find("online_loan", "CN-ZJ", date(2021, 3, 1), release="vary-1")
    gd = varied.find("online_loan", "CN-GD", date(2021, 7, 1), release="vary-1")
    assert (calculate(1, "loan", zj).mg, calculate(1, "loan", gd).mg) == (41_234, 29_002)
    assert calculate(3, "loan", zj).mg == 123_704  # one record of 3 loans: 123,703.5 to the even
    assert emissions_mg(np.array([1, 3, 5], dtype=np.int64), 0, "loan", zj).tolist() == [
        41_234, 123_704, 206_172,
    ]  # fmt: skip
