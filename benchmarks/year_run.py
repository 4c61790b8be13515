"""One full-year calculation in a fresh process; prints its figures as one JSON line (used by test_year).

    python -m benchmarks.year_run PATH {ours,duckdb,polars}

The clock covers reading the file and computing the total (factor registry and price table are loaded
first); peak RSS is the process's high-water mark (VmHWM), so it includes the interpreter and libraries.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

from carbon.core.calculate import format_amount


def peak_rss_bytes() -> int:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def main() -> None:
    path, method = Path(sys.argv[1]), sys.argv[2]
    from benchmarks.conftest import FACTORS
    from carbon.registry import load_registry

    registry = load_registry(FACTORS)
    if method == "ours":
        from carbon.adapters.loan_files import read_loan_chunks
        from carbon.services.bulk import calculate_loan_chunks

        start = time.perf_counter()
        result = calculate_loan_chunks(registry, read_loan_chunks(path, "parquet"), dedupe=False)
        seconds = time.perf_counter() - start
        mg, rows = result.mg, result.rows
    else:
        mg, rows, seconds = _baseline(path, method, registry)
    print(
        json.dumps(
            {
                "method": method,
                "rows": rows,
                "mg": mg,
                "tCO2e": format_amount(mg, "tCO2e", places=2),
                "seconds": seconds,
                "peak_rss_bytes": peak_rss_bytes(),
            }
        )
    )


def _baseline(path: Path, method: str, registry: object) -> tuple[int, int, float]:
    """DuckDB or polars (streaming) on the same Parquet file: group by (day, region, product, channel)."""
    import polars as pl

    from benchmarks.conftest import build_prices, price_rows

    rows_of_prices = price_rows(build_prices(registry))  # type: ignore[arg-type]
    if method == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.register("prices", pl.DataFrame(rows_of_prices).to_arrow())
        start = time.perf_counter()
        row = con.execute(
            "SELECT sum(g.n::HUGEINT * p.mg), sum(g.n) FROM (SELECT disbursed_on AS day, "
            "coalesce(region::VARCHAR, '') AS region, product::VARCHAR AS product, "
            "channel::VARCHAR AS channel, "
            f"count(*) AS n FROM read_parquet('{path}') GROUP BY ALL) g JOIN prices p USING (region, day) "
            "WHERE g.channel = 'online'"
        ).fetchone()
        seconds = time.perf_counter() - start
        assert row is not None
        return int(row[0]), int(row[1]), seconds
    frame = pl.DataFrame(rows_of_prices, schema={"region": pl.String, "day": pl.Date, "mg": pl.Int64})
    start = time.perf_counter()
    out = (
        pl.scan_parquet(path)
        .with_columns(pl.col("channel", "product", "region").cast(pl.String))
        .with_columns(day=pl.col("disbursed_on"), region=pl.col("region").fill_null(""))
        .group_by("day", "region", "product", "channel")
        .len()
        .filter(pl.col("channel") == "online")
        .join(frame.lazy(), on=["region", "day"])
        .select(
            (pl.col("len").cast(pl.Int64) * pl.col("mg")).sum().alias("mg"), pl.col("len").sum().alias("n")
        )
        .collect(engine="streaming")
    )
    seconds = time.perf_counter() - start
    return int(out["mg"][0]), int(out["n"][0]), seconds


if __name__ == "__main__":
    main()
