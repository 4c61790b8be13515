"""The exactness rule: any split of records into batches gives the same total, to the milligram."""

from fractions import Fraction

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from carbon.core.calculate import calculate, emissions_mg, total_mg
from carbon.core.model import Factor
from carbon.registry import FactorRegistry, load_registry
from tests.conftest import TEST_FACTORS

_REGISTRY: FactorRegistry = load_registry(TEST_FACTORS)
_ENERGY_FACTORS = ["ant.green_computing.2021", "cn.grid.location.2021", "cn.grid.market.2021"]

# amounts in thousandths of a kWh, up to 10 GWh per record
amounts = st.lists(st.integers(min_value=0, max_value=10**13), min_size=0, max_size=60)
factor_ids = st.sampled_from(_ENERGY_FACTORS)


def _scalar_total(records: list[int], factor: Factor) -> int:
    return sum(calculate(Fraction(a, 1000), "kWh", factor).mg for a in records)


@settings(max_examples=200, deadline=None)
@given(records=amounts, factor_id=factor_ids, cuts=st.lists(st.integers(0, 60), max_size=8))
def test_any_split_into_batches_gives_the_same_total(
    records: list[int], factor_id: str, cuts: list[int]
) -> None:
    factor = _REGISTRY.factor(factor_id)
    bounds = sorted({0, len(records), *(c for c in cuts if c <= len(records))})
    batches = [records[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    whole = _scalar_total(records, factor)
    assert sum(_scalar_total(batch, factor) for batch in batches) == whole
    assert sum(_scalar_total(batch, factor) for batch in reversed(batches)) == whole


@settings(max_examples=200, deadline=None)
@given(records=amounts, factor_id=factor_ids, scale=st.integers(0, 6))
def test_scalar_and_columnar_paths_agree_record_for_record(
    records: list[int], factor_id: str, scale: int
) -> None:
    factor = _REGISTRY.factor(factor_id)
    column = emissions_mg(np.array(records, dtype=np.int64), scale, "kWh", factor)
    scalar = [calculate(Fraction(a, 10**scale), "kWh", factor).mg for a in records]
    assert column.tolist() == scalar
    assert total_mg(column) == sum(scalar)
