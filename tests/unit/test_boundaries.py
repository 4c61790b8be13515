"""Edges the other tests step over: sums at the int64 limit, ranges at their inclusive ends, a pinned
factor outside its validity, equal idle and full-load power."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import numpy as np
import pytest

from carbon.core.calculate import total_mg
from carbon.core.energy_model import average_power
from carbon.core.units import exact_amount
from carbon.errors import FactorError, QuantityError
from carbon.registry import FactorRegistry, load_registry
from carbon.services.calculations import energy_avoided
from tests.oracle import PINNED, VARIED_FACTORS, Oracle


def test_a_total_of_exactly_two_to_the_63_does_not_wrap() -> None:
    assert total_mg(np.array([2**62, 2**62], dtype=np.int64)) == 2**63
    assert total_mg(np.array([2**62 - 1, 2**62], dtype=np.int64)) == 2**63 - 1
    assert total_mg(np.array([], dtype=np.int64)) == 0


def test_amounts_are_accepted_at_both_ends_of_their_range_and_refused_past_them() -> None:
    assert exact_amount("1e-18") == Fraction(1, 10**18)
    assert exact_amount("9e18") == 9 * 10**18
    for beyond in ("9e-19", "1e19"):
        with pytest.raises(QuantityError, match="amount out of range"):
            exact_amount(beyond)


def test_equal_idle_and_full_load_power_is_a_flat_line() -> None:
    assert average_power(Fraction(120), Fraction(120), Fraction(1, 2)) == 120
    with pytest.raises(QuantityError, match="below power at idle"):
        average_power(Fraction(120), Fraction(119), Fraction(1, 2))


@pytest.fixture(scope="module")
def varied() -> FactorRegistry:
    return load_registry(VARIED_FACTORS)


def test_a_pinned_factor_prices_only_days_it_is_valid_on(varied: FactorRegistry) -> None:
    emission = energy_avoided(varied, "46769.74 MWh", factor_id="test.green.cn", on=date(2021, 12, 31),
                              release=PINNED)  # fmt: skip
    oracle = Oracle()
    factor = oracle.factor("electricity.saved", "CN", date(2021, 12, 31), PINNED)
    assert emission.mg == oracle.mg("46769.74", "MWh", factor) == 21_883_630_000_000
    with pytest.raises(FactorError, match="test.green.cn is not valid on 2022-01-01"):
        energy_avoided(varied, "1 MWh", factor_id="test.green.cn", on=date(2022, 1, 1))
