"""Stateless file calculation: a loan file read, validated and priced to exact milligrams.

Ours is the service path end to end: read_loan_chunks (CSV, NDJSON, Parquet: validated chunks, bad rows
located) into calculate_loan_chunks, with dedupe (loan ids seen earlier in the file count once) and
without (the caller vouches ids are unique; memory bounded by a few chunks). Beside it, the same total
computed by polars and DuckDB reading the same file: they neither validate nor locate bad rows, so they
are a floor for "read and aggregate", not an equivalent.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
import pytest

from benchmarks.conftest import Prices, loans, price_rows, reference_mg, sizes
from benchmarks.generate import cached_file
from carbon.adapters.loan_files import read_loan_chunks
from carbon.registry import FactorRegistry
from carbon.services.bulk import calculate_loan_chunks

ROWS = sizes("CARBON_BENCH_FILE_ROWS", "10000000")[0]
FORMATS = ["csv", "ndjson", "parquet"]
ROUNDS = int(os.environ.get("CARBON_BENCH_FILE_ROUNDS", "5"))


@pytest.fixture(scope="module")
def expected(prices: Prices) -> int:
    return reference_mg(loans(ROWS), prices)


def ours(registry: FactorRegistry, path: Path, fmt: str, dedupe: bool) -> tuple[int, int]:
    result = calculate_loan_chunks(registry, read_loan_chunks(path, fmt), dedupe=dedupe)  # type: ignore[arg-type]
    return result.mg, result.rows


def polars_total(path: Path, fmt: str, prices: pl.DataFrame) -> int:
    strings = dict.fromkeys(("loan_id", "disbursed_on", "channel", "product", "region"), pl.String)
    if fmt == "csv":
        frame = pl.scan_csv(path, schema=strings)
    elif fmt == "ndjson":
        frame = pl.scan_ndjson(path, schema=strings)
    else:
        frame = pl.scan_parquet(path).with_columns(pl.col("channel", "product", "region").cast(pl.String))
    day = pl.col("disbursed_on")
    total = (
        frame.with_columns(
            day=day if fmt == "parquet" else day.str.to_date("%Y-%m-%d"),
            region=pl.col("region").fill_null(""),
        )
        .group_by("day", "region", "product", "channel")
        .len()
        .filter(pl.col("channel") == "online")
        .join(prices.lazy(), on=["region", "day"])
        .select((pl.col("len").cast(pl.Int64) * pl.col("mg")).sum())
        .collect()
        .item()
    )
    return int(total)


def duckdb_total(path: Path, fmt: str, con: duckdb.DuckDBPyConnection) -> int:
    source = {
        "csv": f"read_csv('{path}', header = true, all_varchar = true)",
        "ndjson": f"read_json('{path}', format = 'newline_delimited', columns = {{loan_id: 'VARCHAR', "
        "disbursed_on: 'VARCHAR', channel: 'VARCHAR', product: 'VARCHAR', region: 'VARCHAR'})",
        "parquet": f"read_parquet('{path}')",
    }[fmt]
    row = con.execute(
        "SELECT sum(g.n::HUGEINT * p.mg) FROM (SELECT disbursed_on::DATE AS day, "
        "coalesce(region::VARCHAR, '') AS region, product::VARCHAR AS product, channel::VARCHAR AS channel, "
        f"count(*) AS n FROM {source} "
        "GROUP BY ALL) g JOIN prices p USING (region, day) WHERE g.channel = 'online'"
    ).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("method", ["ours_stateless", "ours_dedupe", "polars", "duckdb"])
def test_file(
    benchmark: Any, registry: FactorRegistry, prices: Prices, expected: int, fmt: str, method: str
) -> None:
    path = cached_file(ROWS, fmt)
    benchmark.group = f"file-{fmt}-{ROWS}"
    benchmark.extra_info.update(rows=ROWS, format=fmt, method=method, file_bytes=path.stat().st_size)
    if method.startswith("ours"):
        dedupe = method == "ours_dedupe"
        mg, rows = benchmark.pedantic(
            ours, args=(registry, path, fmt, dedupe), rounds=ROUNDS, iterations=1, warmup_rounds=1
        )
        assert rows == ROWS
    elif method == "polars":
        frame = pl.DataFrame(price_rows(prices), schema={"region": pl.String, "day": pl.Date, "mg": pl.Int64})
        mg = benchmark.pedantic(
            polars_total, args=(path, fmt, frame), rounds=ROUNDS, iterations=1, warmup_rounds=1
        )
    else:
        con = duckdb.connect()
        con.register("prices", pl.DataFrame(price_rows(prices)).to_arrow())
        mg = benchmark.pedantic(
            duckdb_total, args=(path, fmt, con), rounds=ROUNDS, iterations=1, warmup_rounds=1
        )
    assert mg == expected, f"{method} on {fmt}: {mg} mg, expected {expected} mg"
