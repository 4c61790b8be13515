"""Loan pricing on the varied test releases against the oracle: the factor of the day, the region or its
country, the pinned or the current release, each loan rounded once, and negative amounts refused."""

from __future__ import annotations

from datetime import date
from fractions import Fraction

import numpy as np
import pytest

from carbon.core.calculate import emissions_mg
from carbon.errors import QuantityError
from carbon.registry import FactorRegistry, load_registry
from carbon.services.calculations import loans_avoided
from tests.oracle import CURRENT, EDGE_DAYS, PINNED, REGIONS, VARIED_FACTORS, Oracle

ORACLE = Oracle()


@pytest.fixture(scope="module")
def varied() -> FactorRegistry:
    return load_registry(VARIED_FACTORS)


@pytest.mark.parametrize("release", [None, PINNED, CURRENT])
@pytest.mark.parametrize("region", [r or "CN" for r in REGIONS[1:]])
def test_a_count_of_loans_is_the_count_times_each_loans_milligrams(
    varied: FactorRegistry, release: str | None, region: str
) -> None:
    for day in EDGE_DAYS:
        factor = ORACLE.factor("online_loan", region, date.fromisoformat(day), release)
        emission = loans_avoided(varied, 3, date.fromisoformat(day), release=release, region=region)
        assert (emission.factor.id, emission.factor.version, emission.factor.release) == (
            factor.id, factor.version, factor.release,
        )  # fmt: skip
        assert emission.mg == 3 * ORACLE.mg(1, "loan", factor), (day, region)
        assert (emission.quantity, emission.unit) == (Fraction(3), "loan")


def test_cn_he_falls_back_to_cn_only_where_it_has_no_factor(varied: FactorRegistry) -> None:
    day = date(2021, 7, 16)
    assert (
        loans_avoided(varied, 1, day, release=PINNED, region="CN-HE").factor.id == "test.online_loan.cn.late"
    )
    assert loans_avoided(varied, 1, day, region="CN-HE").factor.id == "test.online_loan.he"


def test_negative_amounts_are_refused_with_the_reason(varied: FactorRegistry) -> None:
    factor = varied.find("online_loan", "CN", date(2021, 1, 1))
    with pytest.raises(QuantityError, match="^amounts must not be negative$"):
        emissions_mg(np.array([3, -1], dtype=np.int64), 0, "loan", factor)
    with pytest.raises(QuantityError, match="^amounts must be an int64 array, got int32$"):
        emissions_mg(np.array([3], dtype=np.int32), 0, "loan", factor)


@pytest.mark.parametrize("count", [True, 3.0, "3"])
def test_a_loan_count_is_a_whole_number(varied: FactorRegistry, count: object) -> None:
    with pytest.raises(QuantityError, match="a loan count must be a whole number"):
        loans_avoided(varied, count, date(2021, 3, 1))  # type: ignore[arg-type]
