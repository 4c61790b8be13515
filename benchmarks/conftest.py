"""Shared benchmark fixtures: the shipped factors, priced (region, day) tables, generated data.

Run explicitly (the normal test command only collects tests/):

    .venv/bin/python -m pytest benchmarks -p no:cacheprovider --benchmark-only

Sizes and opt-ins come from the environment: CARBON_BENCH_SIZES (in-memory sizes, default
"1000000,10000000"), CARBON_BENCH_FILE_ROWS (default 10000000), CARBON_BENCH_FILE_ROUNDS (default 5),
CARBON_BENCH_YEAR=1 (the full 2021 year, 283,129,023 loans; generates a ~1.8 GB Parquet file once) and
CARBON_BENCH_YEAR_ROUNDS (default 3).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from benchmarks.generate import DAYS, FIRST_DAY, REGIONS, LoanArrays, generate
from carbon.registry import FactorRegistry, load_registry
from carbon.services.loan_factors import LoanFactors

FACTORS = Path(__file__).resolve().parent.parent / "factors"
MG_PER_ONLINE_LOAN_2021 = 34_800  # mybank.online_loan.2021: 34.80 gCO2e per loan


def sizes(name: str, default: str) -> list[int]:
    return [int(x) for x in os.environ.get(name, default).split(",") if x]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "year: the full 2021 year (opt in with CARBON_BENCH_YEAR=1)")


@pytest.fixture(scope="session")
def registry() -> FactorRegistry:
    return load_registry(FACTORS)


@dataclass(frozen=True)
class Prices:
    """Exact milligrams per online loan for every (region code, day of 2021), resolved once by the service's
    own factor lookup (LoanFactors): the same table feeds every method, so only aggregation is compared."""

    mg: npt.NDArray[np.int64]  # shape (regions + 1, 365); the last region code means "no region"

    def total(
        self, regions: npt.NDArray[np.int64], days: npt.NDArray[np.int64], counts: npt.NDArray[np.int64]
    ) -> int:
        """Exact sum of count x price over online groups (int64 is exact below 2**63; checked)."""
        price = self.mg[regions, days - FIRST_DAY]
        if counts.size and int(counts.sum()) * int(price.max()) >= 2**63:
            return sum(int(c) * int(p) for c, p in zip(counts.tolist(), price.tolist(), strict=True))
        return int(np.dot(counts.astype(np.int64), price))


@pytest.fixture(scope="session")
def prices(registry: FactorRegistry) -> Prices:
    return build_prices(registry)


def build_prices(registry: FactorRegistry) -> Prices:
    factors = LoanFactors(registry, None, "CN")
    table = np.zeros((len(REGIONS) + 1, DAYS), dtype=np.int64)
    for code, region in enumerate([*REGIONS, None]):
        for offset in range(DAYS):
            factor = factors.factor(region, date(2021, 1, 1) + timedelta(days=offset))
            table[code, offset] = factors.mg_per_loan(factor)
    return Prices(table)


def price_rows(prices: Prices) -> dict[str, list[Any]]:
    """The price table by region name ('' for none) and date, for engines that join on names."""
    regions, days = np.indices(prices.mg.shape)
    names = [*REGIONS, ""]
    return {
        "region": [names[r] for r in regions.ravel().tolist()],
        "day": [date(1970, 1, 1) + timedelta(days=FIRST_DAY + d) for d in days.ravel().tolist()],
        "mg": prices.mg.ravel().tolist(),
    }


_DATA: dict[int, LoanArrays] = {}


def loans(n: int) -> LoanArrays:
    """n generated loans (seed 2021), kept for the whole session."""
    if n not in _DATA:
        _DATA[n] = generate(n)
    return _DATA[n]


def reference_mg(data: LoanArrays, prices: Prices) -> int:
    """The expected total, by the simplest exact route: loans per (region, day) among online loans."""
    online = data.online
    key = data.regions[online].astype(np.int64) * DAYS + (data.days[online] - FIRST_DAY)
    counts = np.bincount(key, minlength=(len(REGIONS) + 1) * DAYS).reshape(len(REGIONS) + 1, DAYS)
    return sum(
        int(c) * int(p) for c, p in zip(counts.ravel().tolist(), prices.mg.ravel().tolist(), strict=True)
    )


_LOAD_AT_START = os.getloadavg()


def pytest_benchmark_update_machine_info(machine_info: dict[str, Any]) -> None:
    """Record what the figures depend on: cores, CPU model, memory, library versions, machine load."""
    import duckdb
    import pandas
    import polars
    import pyarrow

    cpu = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    memory = Path("/proc/meminfo").read_text().split("\n", 1)[0] if Path("/proc/meminfo").exists() else ""
    machine_info["carbon"] = {
        "nproc": os.cpu_count(),
        "cpu_model": next(
            (line.split(":", 1)[1].strip() for line in cpu.splitlines() if "model name" in line), ""
        ),
        "mem_total": memory.split(":", 1)[-1].strip(),
        "loadavg_at_start": _LOAD_AT_START,
        "loadavg_at_end": os.getloadavg(),
        "versions": {
            "numpy": np.__version__,
            "pyarrow": pyarrow.__version__,
            "polars": polars.__version__,
            "pandas": pandas.__version__,
            "duckdb": duckdb.__version__,
        },
    }


@pytest.fixture(autouse=True)
def _record_load(request: pytest.FixtureRequest) -> Iterator[None]:
    """The machine's 1-minute load average before and after each benchmark (others share the machine)."""
    before = os.getloadavg()[0]
    yield
    bench = request.node.funcargs.get("benchmark")
    if bench is not None:
        bench.extra_info["loadavg_1m"] = [round(before, 2), round(os.getloadavg()[0], 2)]
