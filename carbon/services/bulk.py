"""Bulk loan calculations: millions of records from columnar chunks to exact totals, nothing recorded.

Records are counted per (day, region, product, channel) group; the factor is resolved once per
(region, day) and each loan gets exactly the milligrams the per-batch path gives it, so totals equal
what per-batch calls of the same loans would return, whatever the chunk size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from carbon.core.columnar import LoanChunk, Rejected, count_groups
from carbon.core.model import Factor
from carbon.registry import FactorRegistry
from carbon.services.loan_factors import LoanFactors

__all__ = ["BulkLoanResult", "GroupKey", "calculate_loan_chunks", "first_occurrences"]

EPOCH = date(1970, 1, 1)
GroupKey = tuple[int, str | None, str | None, bool]  # day number, region, product, online
_BLOCK = 1 << 20


@dataclass
class BulkLoanResult:
    """Exact totals of a loan file, with where every milligram comes from."""

    release: str
    rows: int = 0
    loans_counted: int = 0
    online: int = 0
    branch: int = 0
    duplicates_in_file: int = 0
    duplicates_in_ledger: int = 0
    rejected_count: int = 0
    rejected: list[Rejected] = field(default_factory=list)
    mg: int = 0
    by_month: dict[str, int] = field(default_factory=dict)
    by_product: dict[str, int] = field(default_factory=dict)
    by_region: dict[str, int] = field(default_factory=dict)
    factors: list[Factor] = field(default_factory=list)
    groups: Counter[GroupKey] = field(default_factory=Counter)
    counted_mask: npt.NDArray[np.bool_] | None = None  # per good row, in file order, when asked for


class _Codes:
    """Map each chunk's dictionary codes onto codes shared by the whole file."""

    def __init__(self) -> None:
        self.names: list[str | None] = []
        self._index: dict[str | None, int] = {}

    def remap(self, codes: npt.NDArray[np.int32], names: list[str | None]) -> npt.NDArray[np.int32]:
        lookup = np.array([self._code(name) for name in names] or [0], dtype=np.int32)
        return lookup[codes] if codes.size else codes

    def _code(self, name: str | None) -> int:
        if name not in self._index:
            self._index[name] = len(self.names)
            self.names.append(name)
        return self._index[name]


Exclude = Callable[[Any], npt.NDArray[np.bool_]]


class _Accumulator:
    """Group counts across chunks; with dedupe, keeps the columns until the end to find first sightings."""

    def __init__(self, dedupe: bool, exclude: Exclude | None, keep_mask: bool) -> None:
        self.dedupe = dedupe
        self.exclude = exclude
        self.keep_mask = keep_mask
        self.regions = _Codes()
        self.products = _Codes()
        self.groups: Counter[GroupKey] = Counter()
        self._kept: list[tuple[Any, ...]] = []
        self._masks: list[npt.NDArray[np.bool_]] = []
        self.duplicates = 0
        self.excluded = 0
        self.counted_mask: npt.NDArray[np.bool_] | None = None

    def add(self, chunk: LoanChunk) -> None:
        regions = self.regions.remap(chunk.regions, chunk.region_names)
        products = self.products.remap(chunk.products, chunk.product_names)
        excluded = self.exclude(chunk.loan_ids) if self.exclude else np.zeros(len(chunk.days), np.bool_)
        if self.dedupe:
            self._kept.append((chunk.loan_ids, chunk.days, chunk.online, regions, products, excluded))
            return
        keep = ~excluded
        self.excluded += int(excluded.sum())
        if self.keep_mask:
            self._masks.append(keep)
        self._count(chunk.days[keep], chunk.online[keep], regions[keep], products[keep])

    def finish(self) -> None:
        if not self.dedupe:
            self.counted_mask = np.concatenate(self._masks) if self.keep_mask and self._masks else None
            return
        if not self._kept:
            self.counted_mask = np.zeros(0, np.bool_) if self.keep_mask else None
            return
        first = first_occurrences([kept[0] for kept in self._kept])
        columns = [np.concatenate([kept[i] for kept in self._kept]) for i in range(1, 6)]
        self._kept.clear()
        excluded = columns.pop()
        self.duplicates = int(first.size - first.sum())
        counted = first & ~excluded
        self.excluded = int((first & excluded).sum())
        self.counted_mask = counted if self.keep_mask else None
        for start in range(0, counted.size, _BLOCK):
            mask = counted[start : start + _BLOCK]
            days, online, regions, products = (c[start : start + _BLOCK][mask] for c in columns)
            self._count(days, online, regions, products)

    def _count(self, days: Any, online: Any, regions: Any, products: Any) -> None:
        grouped = count_groups(
            days, regions, products, online, len(self.regions.names), len(self.products.names)
        )
        for day, region, product, is_online, count in zip(
            grouped.days.tolist(), grouped.regions.tolist(), grouped.products.tolist(),
            grouped.online.tolist(), grouped.counts.tolist(), strict=True,
        ):  # fmt: skip
            self.groups[(day, self.regions.names[region], self.products.names[product], is_online)] += count


def first_occurrences(id_arrays: list[Any]) -> npt.NDArray[np.bool_]:
    """Mark each id seen for the first time across the Arrow string arrays, in order (one hash pass).

    Dictionary codes are given in order of first appearance, so an id is new exactly where its code
    exceeds every code before it.
    """
    if not id_arrays:
        return np.zeros(0, np.bool_)
    ids = pa.chunked_array([array.cast(pa.large_string()) for array in id_arrays], pa.large_string())
    encoded = pc.dictionary_encode(ids, null_encoding="encode")  # one dictionary across the chunks
    codes = np.concatenate([chunk.indices.to_numpy() for chunk in encoded.chunks] or [np.zeros(0, np.int32)])
    first = np.ones(codes.size, np.bool_)
    if codes.size > 1:
        np.greater(codes[1:], np.maximum.accumulate(codes[:-1]), out=first[1:])
    return first


def calculate_loan_chunks(
    registry: FactorRegistry,
    chunks: Iterable[LoanChunk],
    *,
    release: str | None = None,
    default_region: str = "CN",
    dedupe: bool = True,
    keep_rejected: int = 100,
    progress: Callable[[int], None] | None = None,
    exclude: Exclude | None = None,
    keep_mask: bool = False,
    rejected_sink: Callable[[list[Rejected]], None] | None = None,
) -> BulkLoanResult:
    """Count and price every loan of the chunks; loans seen earlier in the file are not counted again.

    With `dedupe=False` the caller vouches that loan ids are unique, and memory stays bounded by one
    chunk whatever the file's size; with dedupe the loan ids of the whole file are kept until the end.
    """
    factors = LoanFactors(registry, release, default_region)
    result = BulkLoanResult(release=factors.release)
    accumulator = _Accumulator(dedupe, exclude, keep_mask)
    for chunk in chunks:
        result.rows += chunk.rows
        result.rejected_count += len(chunk.rejected)
        room = keep_rejected - len(result.rejected)
        result.rejected.extend(chunk.rejected[: max(room, 0)])
        if rejected_sink is not None and chunk.rejected:
            rejected_sink(chunk.rejected)
        accumulator.add(chunk)
        if progress is not None:
            progress(chunk.rows)
    accumulator.finish()
    result.duplicates_in_file = accumulator.duplicates
    result.duplicates_in_ledger = accumulator.excluded
    result.counted_mask = accumulator.counted_mask
    _price(result, accumulator.groups, factors)
    return result


def _price(result: BulkLoanResult, groups: Counter[GroupKey], factors: LoanFactors) -> None:
    """Resolve a factor per (region, day) group and add up exact milligrams and breakdowns."""
    used: dict[str, Factor] = {}
    for (day, region, product, online), count in sorted(groups.items(), key=lambda item: str(item[0])):
        result.loans_counted += count
        if not online:
            result.branch += count
            continue
        result.online += count
        when = EPOCH + timedelta(days=day)
        factor = factors.factor(region, when)
        used[factor.id] = factor
        mg = count * factors.mg_per_loan(factor)
        result.mg += mg
        month = when.isoformat()[:7]
        result.by_month[month] = result.by_month.get(month, 0) + mg
        result.by_product[product or ""] = result.by_product.get(product or "", 0) + mg
        where = region or factors.default_region
        result.by_region[where] = result.by_region.get(where, 0) + mg
    result.factors = sorted(used.values(), key=lambda f: f.id)
    result.groups = groups
