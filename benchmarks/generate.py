"""Seeded synthetic loan data for the benchmarks: realistic, vectorised, cached on disk by size and seed.

A loan file here looks like an export of a lending system for 2021: one row per loan in disbursement
order, loan ids like ``L210315-000123456`` (day, then a sequence number), dates spread over the year with
weekday and month seasonality (quiet weekends, Spring Festival in February, the 618 and Double 11 peaks),
about 95% online, five products, and the 31 mainland province codes (CN-ZJ, CN-GD, ...) weighted roughly
by lending volume, with about 3% of rows giving no region.

Nothing is committed: files are written at run time under ``.benchmarks/data/`` (gitignored), named by
row count and seed, and reused by later runs. ``python -m benchmarks.generate --rows N`` writes them ahead.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "DATA_DIR",
    "MYBANK_2021_LOANS",
    "PRODUCTS",
    "REGIONS",
    "LoanArrays",
    "cached_file",
    "day_counts",
    "generate",
    "year_file",
]

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("CARBON_BENCH_DATA", ROOT / ".benchmarks" / "data"))
FORMAT_VERSION = 1  # bump when the generated data changes shape, so cached files are not reused

MYBANK_2021_LOANS = 283_129_023
YEAR = 2021
FIRST_DAY = (date(YEAR, 1, 1) - date(1970, 1, 1)).days
DAYS = 365

# ISO 3166-2:CN codes of the 31 mainland provinces, with rough relative lending volumes.
REGIONS: tuple[str, ...] = (
    "CN-GD", "CN-ZJ", "CN-JS", "CN-SD", "CN-HA", "CN-SC", "CN-HB", "CN-FJ", "CN-HN", "CN-AH", "CN-HE",
    "CN-SH", "CN-BJ", "CN-SN", "CN-JX", "CN-CQ", "CN-GX", "CN-YN", "CN-LN", "CN-SX", "CN-GZ", "CN-TJ",
    "CN-NM", "CN-HL", "CN-XJ", "CN-JL", "CN-GS", "CN-HI", "CN-NX", "CN-QH", "CN-XZ",
)  # fmt: skip
_REGION_WEIGHTS = np.array(
    [12.4, 9.1, 8.7, 6.9, 5.6, 5.2, 4.6, 4.4, 4.3, 4.1, 4.0, 3.6, 3.3, 2.9, 2.8, 2.6, 2.5, 2.3, 2.2,
     1.9, 1.8, 1.5, 1.4, 1.4, 1.3, 1.1, 0.9, 0.6, 0.4, 0.3, 0.2]
)  # fmt: skip
_NO_REGION_SHARE = 0.03
PRODUCTS: tuple[str, ...] = ("micro-business", "consumer", "farm", "supply-chain", "merchant")
_PRODUCT_WEIGHTS = np.array([0.46, 0.27, 0.14, 0.08, 0.05])
_WEEKDAY = np.array([1.08, 1.05, 1.04, 1.03, 1.07, 0.90, 0.83])  # Monday first
_MONTH = np.array([0.96, 0.74, 1.00, 1.00, 1.01, 1.12, 0.97, 0.98, 1.03, 0.88, 1.14, 1.09])
_ID_WIDTH = 17  # L + yymmdd + - + 9-digit sequence
_YEAR_CHUNK = 1 << 22  # rows generated at a time for the full-year file (fixed: part of its identity)


def day_counts(n: int, seed: int) -> npt.NDArray[np.int64]:
    """Loans per day of 2021 (365 numbers summing to n), with weekday and month seasonality."""
    days = [date(YEAR, 1, 1) + timedelta(days=i) for i in range(DAYS)]
    weights = np.array([_WEEKDAY[d.weekday()] * _MONTH[d.month - 1] for d in days])
    rng = np.random.default_rng([seed, 0])
    counts: npt.NDArray[np.int64] = rng.multinomial(n, weights / weights.sum()).astype(np.int64)
    return counts


def _lookup(weights: npt.NDArray[np.float64], resolution: int = 1 << 12) -> npt.NDArray[np.int32]:
    """A table that draws code i with probability weights[i] from one uniform integer (fast sampling)."""
    edges = np.round(np.cumsum(weights / weights.sum()) * resolution).astype(np.int64)
    return np.repeat(np.arange(weights.size, dtype=np.int32), np.diff(np.concatenate(([0], edges))))


_REGION_TABLE = _lookup(np.append(_REGION_WEIGHTS / _REGION_WEIGHTS.sum() * (1 - _NO_REGION_SHARE), 0.03))
_PRODUCT_TABLE = _lookup(_PRODUCT_WEIGHTS)
_DATE_TEXT = np.frombuffer(
    "".join((date(YEAR, 1, 1) + timedelta(days=i)).isoformat() for i in range(DAYS)).encode(), np.uint8
).reshape(DAYS, 10)


@dataclass
class LoanArrays:
    """Loans as the columnar core holds them, plus what it takes to write them as a file."""

    first_row: int  # global row number of the first loan (loan ids are numbered by it)
    days: npt.NDArray[np.int32]  # days since 1970-01-01
    online: npt.NDArray[np.bool_]
    regions: npt.NDArray[np.int32]  # index into region_names; the last name is None (no region given)
    products: npt.NDArray[np.int32]  # index into product_names

    region_names: ClassVar[list[str | None]] = [*REGIONS, None]
    product_names: ClassVar[list[str | None]] = list(PRODUCTS)

    def __len__(self) -> int:
        return int(self.days.size)

    @property
    def n_online(self) -> int:
        return int(np.count_nonzero(self.online))

    def loan_ids(self) -> pa.Array:
        """Fixed-width ids 'L' yymmdd '-' sequence, built from bytes (no Python string per loan)."""
        n = len(self)
        text = np.empty((n, _ID_WIDTH), dtype=np.uint8)
        text[:, 0] = ord("L")
        day_text = _DATE_TEXT[self.days - FIRST_DAY]
        text[:, 1:3] = day_text[:, 2:4]
        text[:, 3:5] = day_text[:, 5:7]
        text[:, 5:7] = day_text[:, 8:10]
        text[:, 7] = ord("-")
        sequence = np.arange(self.first_row, self.first_row + n, dtype=np.int64)
        for position in range(_ID_WIDTH - 1, 7, -1):
            sequence, digit = np.divmod(sequence, 10)
            text[:, position] = digit + ord("0")
        return _fixed_width_strings(text)

    def date_text(self) -> pa.Array:
        return _fixed_width_strings(_DATE_TEXT[self.days - FIRST_DAY])

    def table(self, dates_as: str = "string") -> pa.Table:
        """The loans as an Arrow table with the loan-file columns (region null where none was given)."""
        region_codes = pa.array(self.regions, pa.int32(), mask=self.regions == len(REGIONS))
        return pa.table(
            {
                "loan_id": self.loan_ids(),
                "disbursed_on": (
                    pa.array(self.days, pa.int32()).cast(pa.date32())
                    if dates_as == "date"
                    else self.date_text()
                ),
                "channel": pa.DictionaryArray.from_arrays(
                    pa.array(np.where(self.online, 0, 1).astype(np.int8)), pa.array(["online", "branch"])
                ),
                "product": pa.DictionaryArray.from_arrays(
                    pa.array(self.products.astype(np.int8)), pa.array(PRODUCTS)
                ),
                "region": pa.DictionaryArray.from_arrays(region_codes.cast(pa.int8()), pa.array(REGIONS)),
            }
        )


def _fixed_width_strings(text: npt.NDArray[np.uint8]) -> pa.Array:
    n, width = text.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(text))]
    )


def generate(
    n: int,
    seed: int = 2021,
    *,
    online_share: float = 0.95,
    counts: npt.NDArray[np.int64] | None = None,
    rows: tuple[int, int] | None = None,
) -> LoanArrays:
    """n loans of 2021 in disbursement order; `rows` = (start, stop) generates just that slice of them."""
    counts = day_counts(n, seed) if counts is None else counts
    start, stop = rows or (0, n)
    ends = np.cumsum(counts)
    index = np.arange(start, stop, dtype=np.int64)
    days = (np.searchsorted(ends, index, side="right") + FIRST_DAY).astype(np.int32)
    rng = np.random.default_rng([seed, 1, start])
    regions = _REGION_TABLE[rng.integers(0, _REGION_TABLE.size, stop - start)]
    products = _PRODUCT_TABLE[rng.integers(0, _PRODUCT_TABLE.size, stop - start)]
    if online_share >= 1:
        online = np.ones(stop - start, dtype=np.bool_)
    else:
        online = rng.random(stop - start, dtype=np.float32) < online_share
    return LoanArrays(start, days, online, regions, products)


# --- files -----------------------------------------------------------------------------------------


def cached_file(n: int, fmt: str, seed: int = 2021) -> Path:
    """The n-loan file in a format (csv, ndjson, parquet), written once per (n, seed) and reused."""
    path = DATA_DIR / f"loans-v{FORMAT_VERSION}-{n}-seed{seed}.{fmt}"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(f".{os.getpid()}.tmp")
    loans = generate(n, seed)
    if fmt == "parquet":
        _write_parquet([loans.table(dates_as="date")], scratch)
    else:
        frame = pl.from_arrow(loans.table())
        assert isinstance(frame, pl.DataFrame)
        if fmt == "csv":
            frame.write_csv(scratch)
        else:
            frame.write_ndjson(scratch)
    scratch.replace(path)
    return path


def year_file(seed: int = 2021, n: int = MYBANK_2021_LOANS) -> Path:
    """MYbank's 2021 online loans (branchless bank: all online) as one Parquet file, written in chunks."""
    path = DATA_DIR / f"mybank-2021-v{FORMAT_VERSION}-{n}-seed{seed}.parquet"
    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_suffix(f".{os.getpid()}.tmp")
    _write_parquet(_year_tables(n, seed), scratch)
    scratch.replace(path)
    return path


def _year_tables(n: int, seed: int) -> Iterator[pa.Table]:
    counts = day_counts(n, seed)
    for start in range(0, n, _YEAR_CHUNK):
        rows = (start, min(start + _YEAR_CHUNK, n))
        yield generate(n, seed, online_share=1.0, counts=counts, rows=rows).table(dates_as="date")


def _write_parquet(tables: Iterator[pa.Table] | list[pa.Table], path: Path) -> None:
    writer: pq.ParquetWriter | None = None
    try:
        for table in tables:
            if writer is None:
                writer = pq.ParquetWriter(
                    path, table.schema, use_dictionary=["channel", "product", "region"], compression="snappy"
                )
            writer.write_table(table, row_group_size=1 << 20)
    finally:
        if writer is not None:
            writer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description="Write the benchmark loan files ahead of a run.")
    parser.add_argument("--rows", type=int, action="append", default=[], help="rows (repeatable)")
    parser.add_argument("--seed", type=int, default=2021)
    parser.add_argument("--year", action="store_true", help="also the 283,129,023-loan 2021 Parquet file")
    args = parser.parse_args()
    for n in args.rows:
        for fmt in ("csv", "ndjson", "parquet"):
            print(cached_file(n, fmt, args.seed))
    if args.year:
        print(year_file(args.seed))


if __name__ == "__main__":
    main()
