"""Columnar kernels for millions of records: dates from fixed-width bytes, and group counts.

Records never become Python objects: ISO dates are parsed from their bytes in bulk, and loans are
counted per (day, region, product, channel) group with one `np.bincount` per chunk, so the factor
that applies is resolved once per group, not once per record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["GroupCounts", "LoanChunk", "Rejected", "count_groups", "days_from_iso_bytes", "iso_from_days"]

_DASH = ord("-")
_ZERO = ord("0")
_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9]
_ALL_DIGITS = int.from_bytes(b"\x01" * 8, "little")  # eight True bytes read as one uint64
_DENSE_LIMIT = 1 << 24
_BLOCK = 1 << 16  # rows per pass: key buffers stay in L2 and are reused (no page faults per pass)
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)


def days_from_iso_bytes(
    text: npt.NDArray[np.uint8],
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.bool_]]:
    """Days since 1970-01-01 from an (n, 10) array of 'YYYY-MM-DD' bytes, and which rows were valid dates."""
    digits = text - np.uint8(_ZERO)  # wraps: any byte that is not a digit becomes > 9
    is_digit = np.ascontiguousarray((digits <= 9)[:, _DIGITS])
    valid = is_digit.view(np.uint64).reshape(-1) == _ALL_DIGITS
    valid &= (text[:, 4] == _DASH) & (text[:, 7] == _DASH)
    column = [digits[:, i].astype(np.int32) for i in range(10)]
    year = ((column[0] * 10 + column[1]) * 10 + column[2]) * 10 + column[3]
    month = column[5] * 10 + column[6]
    day = column[8] * 10 + column[9]
    valid &= (month >= 1) & (month <= 12) & (year >= 1)
    month[~valid] = 1
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    last = _MONTH_DAYS[month] + ((month == 2) & leap)
    valid &= (day >= 1) & (day <= last)
    return _days_from_civil(year, month, day), valid


def _days_from_civil(
    year: npt.NDArray[np.int32], month: npt.NDArray[np.int32], day: npt.NDArray[np.int32]
) -> npt.NDArray[np.int32]:
    """Howard Hinnant's days_from_civil, vectorised (proleptic Gregorian calendar, int32 arithmetic)."""
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    shifted = np.where(month > 2, month - 3, month + 9)
    doy = (153 * shifted + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days: npt.NDArray[np.int32] = (era * 146097 + doe - 719468).astype(np.int32, copy=False)
    return days


def iso_from_days(days: int) -> str:
    """The ISO date of a day number (for group keys, never per record)."""
    return str(np.datetime64(days, "D"))


@dataclass(frozen=True, slots=True)
class GroupCounts:
    """Non-empty groups of one chunk: day, region code, product code, online flag and loan count."""

    days: npt.NDArray[np.int64]
    regions: npt.NDArray[np.int64]
    products: npt.NDArray[np.int64]
    online: npt.NDArray[np.bool_]
    counts: npt.NDArray[np.int64]


def count_groups(
    days: npt.NDArray[np.int32],
    regions: npt.NDArray[np.int32],
    products: npt.NDArray[np.int32],
    online: npt.NDArray[np.bool_],
    n_regions: int,
    n_products: int,
) -> GroupCounts:
    """Count records per (day, region, product, channel) over one combined small-integer key.

    The key is built 64k rows at a time in reused int32 buffers and counted into one dense table with
    `np.add.at`, so no temporary the size of the input is made; dates spread over centuries, whose dense
    table would be too big, are sorted and counted instead.
    """
    empty = np.zeros(0, dtype=np.int64)
    if days.size == 0:
        return GroupCounts(empty, empty, empty, np.zeros(0, dtype=np.bool_), empty)
    first = int(days.min())
    span = int(days.max()) - first + 1
    n_products = max(n_products, 1)
    cells = 2 * max(n_regions, 1) * n_products
    shape = (span, max(n_regions, 1), n_products, 2)
    if span * cells <= _DENSE_LIMIT:
        dense = _dense_counts(days, regions, products, online, first, (span, cells, n_products))
        day_offset, region, product, is_online = (
            a.astype(np.int64) for a in np.nonzero(dense.reshape(shape))
        )  # nonzero of the 4-d view gives each group's coordinates at once
        counts = dense.reshape(shape)[day_offset, region, product, is_online]
    else:  # dates spread over centuries: sort instead of a huge dense table
        key = (days.astype(np.int64) - first) * cells
        key += (regions.astype(np.int64) * n_products + products) * 2 + online
        present, counts = np.unique(key, return_counts=True)
        day_offset, region, product, is_online = np.unravel_index(present, shape)
    return GroupCounts(
        day_offset + first,
        region.astype(np.int64),
        product.astype(np.int64),
        is_online.astype(np.bool_),
        counts.astype(np.int64),
    )


def _dense_counts(
    days: npt.NDArray[np.int32],
    regions: npt.NDArray[np.int32],
    products: npt.NDArray[np.int32],
    online: npt.NDArray[np.bool_],
    first: int,
    shape: tuple[int, int, int],
) -> npt.NDArray[np.int64]:
    """Loans per key (day - first) x cells + (region x products + product) x 2 + online."""
    span, cells, n_products = shape
    table = np.zeros(span * cells, dtype=np.int64)
    rows = days.size
    key_buffer = np.empty(min(rows, _BLOCK), dtype=np.int32)
    part_buffer = np.empty_like(key_buffer)
    flags = online.view(np.uint8) if online.dtype == np.bool_ else online.astype(np.uint8)
    for start in range(0, rows, _BLOCK):
        stop = min(start + _BLOCK, rows)
        key, part = key_buffer[: stop - start], part_buffer[: stop - start]
        np.subtract(days[start:stop], first, out=key)
        key *= cells
        np.multiply(regions[start:stop], 2 * n_products, out=part)
        key += part
        key += products[start:stop]
        key += products[start:stop]
        key += flags[start:stop]
        np.add.at(table, key, 1)
    return table


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that was not counted: where it is (line or row) and why."""

    where: str
    reason: str


@dataclass
class LoanChunk:
    """The good records of one chunk of a loan file, as arrays, and its bad records, located.

    `loan_ids` is an Arrow string array: the core carries it for duplicate detection but never reads it.
    `customers`, when the file has a customer_ref column, is an Arrow string array too (null: no customer),
    carried to the personal accounts and never stored.
    """

    rows: int
    loan_ids: Any
    days: npt.NDArray[np.int32]
    online: npt.NDArray[np.bool_]
    regions: npt.NDArray[np.int32]
    region_names: list[str | None]
    products: npt.NDArray[np.int32]
    product_names: list[str | None]
    rejected: list[Rejected] = field(default_factory=list)
    customers: Any = None
