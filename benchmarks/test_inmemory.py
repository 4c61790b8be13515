"""In-memory aggregation: loans held as int arrays, priced to exact milligrams, every method side by side.

Every method gets the same loans (days, region codes, product codes, online flags, as the columnar core
holds them) and the same price per (region, day), resolved once by the service's factor lookup; each
counts loans per (day, region, product, channel) and prices the online groups. Every method's total must
equal the reference total to the milligram. The numpy floor only reads the same bytes (no total).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import cached_property
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from benchmarks.conftest import Prices, loans, reference_mg, sizes
from benchmarks.generate import FIRST_DAY, PRODUCTS, REGIONS, LoanArrays
from carbon.core.calculate import calculate
from carbon.core.columnar import LoanChunk, count_groups
from carbon.registry import FactorRegistry
from carbon.services.bulk import calculate_loan_chunks
from carbon.services.loan_factors import LoanFactors

SIZES = sizes("CARBON_BENCH_SIZES", "1000000,10000000")
PINT_SAMPLE = 20_000
EPOCH = date(1970, 1, 1)
KEYS = ["day", "region", "product", "online"]


@dataclass
class Case:
    """One size's data in every shape a method wants, built outside the timed region."""

    data: LoanArrays
    prices: Prices
    registry: FactorRegistry
    expected: int
    _cache: dict[str, Any] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return len(self.data)

    @cached_property
    def lists(self) -> tuple[list[int], list[int], list[int], list[bool]]:
        d = self.data
        return d.days.tolist(), d.regions.tolist(), d.products.tolist(), d.online.tolist()

    @cached_property
    def pandas(self) -> pd.DataFrame:
        d = self.data
        return pd.DataFrame({"day": d.days, "region": d.regions, "product": d.products, "online": d.online})

    @cached_property
    def polars(self) -> pl.DataFrame:
        d = self.data
        return pl.DataFrame({"day": d.days, "region": d.regions, "product": d.products, "online": d.online})

    @cached_property
    def price_frame(self) -> pa.Table:
        regions, days = np.indices(self.prices.mg.shape)
        return pa.table(
            {
                "region": regions.ravel().astype(np.int32),
                "day": (days.ravel() + FIRST_DAY).astype(np.int32),
                "mg": self.prices.mg.ravel(),
            }
        )

    @cached_property
    def duckdb(self) -> duckdb.DuckDBPyConnection:
        d = self.data
        con = duckdb.connect()
        con.register(
            "loans",
            pa.table({"day": d.days, "region": d.regions, "product": d.products, "online": d.online}),
        )
        con.register("prices", self.price_frame)
        return con


_CASES: dict[int, Case] = {}


@pytest.fixture(params=SIZES, ids=lambda n: f"{n // 1_000_000}M" if n >= 1_000_000 else str(n))
def case(request: pytest.FixtureRequest, prices: Prices, registry: FactorRegistry) -> Case:
    n = request.param
    if n not in _CASES:
        data = loans(n)
        _CASES.clear()  # one size in memory at a time
        _CASES[n] = Case(data, prices, registry, reference_mg(data, prices))
    return _CASES[n]


# --- methods: each returns the exact total in milligrams ------------------------------------------------


def ours(c: Case) -> int:
    """The columnar kernel: count_groups over the int arrays, then a price per online group."""
    d = c.data
    groups = count_groups(d.days, d.regions, d.products, d.online, len(REGIONS) + 1, len(PRODUCTS))
    online = groups.online
    return c.prices.total(groups.regions[online], groups.days[online], groups.counts[online])


def service(c: Case) -> int:
    """The whole service path: calculate_loan_chunks over 1Mi-row chunks (its own per-group pricing)."""
    d, step = c.data, 1 << 20
    chunks = (
        LoanChunk(
            rows=min(step, c.n - start),
            loan_ids=None,  # not read without dedupe
            days=d.days[start : start + step],
            online=d.online[start : start + step],
            regions=d.regions[start : start + step],
            region_names=d.region_names,
            products=d.products[start : start + step],
            product_names=d.product_names,
        )
        for start in range(0, c.n, step)
    )
    return calculate_loan_chunks(c.registry, chunks, dedupe=False).mg


def pint_sample(c: Case) -> int:
    """Per record, the scalar unit-safe path (pint units, exact fractions) on the first PINT_SAMPLE loans."""
    factors = LoanFactors(c.registry, None, "CN")
    days, regions, _, online = c.lists
    names = c.data.region_names
    total = 0
    for day, region, is_online in zip(
        days[:PINT_SAMPLE], regions[:PINT_SAMPLE], online[:PINT_SAMPLE], strict=True
    ):
        if is_online:
            factor = factors.factor(names[region], EPOCH + timedelta(days=day))
            total += calculate(1, "loan", factor).mg
    return total


def python_loop(c: Case) -> int:
    """Plain Python: a Counter over (day, region, product, online) tuples, then a price per group."""
    counts = Counter(zip(*c.lists, strict=True))
    table = c.prices.mg.tolist()
    return sum(n * table[region][day - FIRST_DAY] for (day, region, _, online), n in counts.items() if online)


def pandas_groupby(c: Case) -> int:
    sizes_ = c.pandas.groupby(KEYS, sort=False).size()
    index = sizes_.index
    online = index.get_level_values("online").to_numpy()
    return c.prices.total(
        index.get_level_values("region").to_numpy()[online],
        index.get_level_values("day").to_numpy()[online],
        sizes_.to_numpy()[online],
    )


def polars_groupby(c: Case) -> int:
    prices = c._cache.setdefault("polars_prices", pl.from_arrow(c.price_frame))
    total = (
        c.polars.group_by(KEYS)
        .len()
        .filter(pl.col("online"))
        .join(prices, on=["region", "day"])
        .select((pl.col("len").cast(pl.Int64) * pl.col("mg")).sum())
        .item()
    )
    return int(total)


def duckdb_sql(c: Case) -> int:
    row = c.duckdb.execute(
        "SELECT sum(g.n::HUGEINT * p.mg) FROM (SELECT day, region, product, online, count(*) AS n FROM loans "
        "GROUP BY ALL) g JOIN prices p USING (region, day) WHERE g.online"
    ).fetchone()
    assert row is not None
    return int(row[0])


def numpy_floor(c: Case) -> int:
    """The memory-bandwidth floor: read the same bytes once (a wrapping uint64 sum; not a total)."""
    total = 0
    for array in (c.data.days, c.data.regions, c.data.products, c.data.online):
        raw = array.view(np.uint8)
        whole = raw.size // 8 * 8
        total += int(raw[:whole].view(np.uint64).sum()) + int(raw[whole:].sum())
    return total


# (method, rounds at 1M, rounds at 10M): slow methods run fewer rounds to keep the suite bounded
METHODS: dict[str, tuple[Callable[[Case], int], int, int]] = {
    "ours": (ours, 31, 21),
    "ours_service_path": (service, 7, 5),
    "pint_per_record_sample": (pint_sample, 3, 3),
    "python_loop": (python_loop, 3, 3),
    "pandas_groupby": (pandas_groupby, 5, 3),
    "polars_groupby": (polars_groupby, 15, 9),
    "duckdb_sql": (duckdb_sql, 15, 9),
    "numpy_floor": (numpy_floor, 51, 31),
}


@pytest.mark.parametrize("method", list(METHODS))
def test_aggregate(benchmark: Any, case: Case, method: str) -> None:
    function, rounds_small, rounds_big = METHODS[method]
    benchmark.group = f"inmemory-{case.n}"
    benchmark.extra_info.update(rows=case.n, method=method)
    if method == "pint_per_record_sample":
        benchmark.extra_info.update(sample=PINT_SAMPLE, scale=case.n / PINT_SAMPLE)
    if method == "python_loop":
        _ = case.lists  # build the Python lists outside the timed region
    rounds = rounds_small if case.n <= 1_000_000 else rounds_big
    result = benchmark.pedantic(function, args=(case,), rounds=rounds, iterations=1, warmup_rounds=1)
    if method == "numpy_floor":
        return
    if method == "pint_per_record_sample":
        head = LoanArrays(0, *(a[:PINT_SAMPLE] for a in (case.data.days, case.data.online, case.data.regions,
                                                         case.data.products)))  # fmt: skip
        assert result == ours(Case(head, case.prices, case.registry, 0)) == reference_mg(head, case.prices)
        return
    assert result == case.expected, f"{method}: {result} mg, expected {case.expected} mg"
