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
_DENSE_LIMIT = 1 << 24
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int64)


def days_from_iso_bytes(
    text: npt.NDArray[np.uint8],
) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.bool_]]:
    """Days since 1970-01-01 from an (n, 10) array of 'YYYY-MM-DD' bytes, and which rows were valid dates."""
    digits = text.astype(np.int64) - _ZERO
    valid = (text[:, 4] == _DASH) & (text[:, 7] == _DASH)
    valid &= ((digits[:, _DIGITS] >= 0) & (digits[:, _DIGITS] <= 9)).all(axis=1)
    year = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
    month = digits[:, 5] * 10 + digits[:, 6]
    day = digits[:, 8] * 10 + digits[:, 9]
    valid &= (month >= 1) & (month <= 12) & (year >= 1)
    month = np.where(valid, month, 1)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    last = _MONTH_DAYS[month] + ((month == 2) & leap)
    valid &= (day >= 1) & (day <= last)
    return _days_from_civil(year, month, day).astype(np.int32), valid


def _days_from_civil(
    year: npt.NDArray[np.int64], month: npt.NDArray[np.int64], day: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Howard Hinnant's days_from_civil, vectorised (proleptic Gregorian calendar)."""
    y = year - (month <= 2)
    era = np.floor_divide(y, 400)
    yoe = y - era * 400
    shifted = np.where(month > 2, month - 3, month + 9)
    doy = (153 * shifted + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days: npt.NDArray[np.int64] = era * 146097 + doe - 719468
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
    """Count records per (day, region, product, channel) with one bincount over a combined key."""
    empty = np.zeros(0, dtype=np.int64)
    if days.size == 0:
        return GroupCounts(empty, empty, empty, np.zeros(0, dtype=np.bool_), empty)
    first = int(days.min())
    span = int(days.max()) - first + 1
    cells = 2 * max(n_regions, 1) * max(n_products, 1)
    key = (days.astype(np.int64) - first) * cells
    key += (regions.astype(np.int64) * max(n_products, 1) + products) * 2 + online
    if span * cells <= _DENSE_LIMIT:
        dense = np.bincount(key, minlength=span * cells)
        (present,) = np.nonzero(dense)
        counts = dense[present]
    else:  # dates spread over centuries: sort instead of a huge dense table
        present, counts = np.unique(key, return_counts=True)
    rest, is_online = np.divmod(present, 2)
    day_offset, combined = np.divmod(rest, (cells // 2))
    region, product = np.divmod(combined, max(n_products, 1))
    return GroupCounts(
        day_offset + first, region, product, is_online.astype(np.bool_), counts.astype(np.int64)
    )


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that was not counted: where it is (line or row) and why."""

    where: str
    reason: str


@dataclass
class LoanChunk:
    """The good records of one chunk of a loan file, as arrays, and its bad records, located.

    `loan_ids` is an Arrow string array: the core carries it for duplicate detection but never reads it.
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
