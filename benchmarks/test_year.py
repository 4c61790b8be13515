"""The full 2021 MYbank year: 283,129,023 online loans streamed from one Parquet file, stateless.

Opt in with CARBON_BENCH_YEAR=1 (the file, about 1.8 GB, is generated once under .benchmarks/data/).
Each round runs in a fresh process (benchmarks/year_run.py) so its peak RSS is its own; the figure that
matters is the process's own clock around read + calculate, recorded in extra_info beside the
pytest-benchmark time (which adds interpreter start-up and imports). MYbank is a branchless bank: every
loan is online, and the total must be exactly 283,129,023 x 34,800 mg = 9,852,890,000,400 mg.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from statistics import median
from typing import Any

import pytest

from benchmarks.generate import MYBANK_2021_LOANS, ROOT, year_file

GOLDEN_MG = 9_852_890_000_400
ROUNDS = int(os.environ.get("CARBON_BENCH_YEAR_ROUNDS", "3"))

pytestmark = [
    pytest.mark.year,
    pytest.mark.skipif(os.environ.get("CARBON_BENCH_YEAR") != "1", reason="set CARBON_BENCH_YEAR=1 to run"),
]


@pytest.mark.parametrize("method", ["ours", "duckdb", "polars_streaming"])
def test_year(benchmark: Any, method: str) -> None:
    path = year_file()
    runs: list[dict[str, Any]] = []  # the warm-up round (page cache) is dropped below

    def run() -> None:
        name = "polars" if method == "polars_streaming" else method
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.year_run", str(path), name],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        )
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))

    benchmark.group = "year-2021-mybank"
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    runs[:] = runs[-ROUNDS:]
    benchmark.extra_info.update(
        rows=MYBANK_2021_LOANS,
        method=method,
        file_bytes=path.stat().st_size,
        seconds_inside=[round(r["seconds"], 3) for r in runs],
        median_seconds_inside=median(r["seconds"] for r in runs),
        peak_rss_bytes=max(r["peak_rss_bytes"] for r in runs),
        tCO2e=runs[-1]["tCO2e"],
    )
    for r in runs:
        assert (r["rows"], r["mg"], r["tCO2e"]) == (MYBANK_2021_LOANS, GOLDEN_MG, "9852.89")
