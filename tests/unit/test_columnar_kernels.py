"""The columnar kernels against the standard library: dates from bytes against `date.fromisoformat`, group
counts against a `Counter` (both the dense table and the sort path), and a file whose chunks mix invalid
dates with 2021-02-29 read the same at every chunk size."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from carbon.adapters.loan_files import read_loan_chunks
from carbon.core.columnar import count_groups, days_from_iso_bytes, iso_from_days
from carbon.registry import FactorRegistry
from carbon.services.bulk import calculate_loan_chunks

EPOCH = date(1970, 1, 1)
ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def reference(text: str) -> int | None:
    """Days since 1970-01-01 by the standard library, or None for anything that is not a YYYY-MM-DD date."""
    if not ISO.fullmatch(text):
        return None
    try:
        return (date.fromisoformat(text) - EPOCH).days
    except ValueError:
        return None


def parse(texts: list[str]) -> tuple[list[int], list[bool]]:
    raw = np.frombuffer("".join(texts).encode("latin-1"), dtype=np.uint8).reshape(len(texts), 10)
    days, valid = days_from_iso_bytes(raw)
    return days.tolist(), valid.tolist()


def two(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: f"{n:02d}")


dates = st.builds(
    lambda y, m, d: f"{y:04d}-{m}-{d}",
    st.one_of(st.integers(0, 9999), st.sampled_from([1900, 2000, 2020, 2021, 2024, 2100, 2400])),
    st.one_of(two(0, 19), st.sampled_from(["02", "12", "13", "00"])),
    st.one_of(two(0, 39), st.sampled_from(["28", "29", "30", "31", "32", "00"])),
)
# One byte replaced: a letter, a space, ':' (one past '9'), '/' (one before '0'), a dash, a NUL, ...
noisy = st.builds(
    lambda text, where, byte: text[:where] + byte + text[where + 1 :],
    dates, st.integers(0, 9), st.sampled_from(["x", " ", "/", ":", "-", "+", "\xff", "\x00", "W"]),
)  # fmt: skip
LEAP_EDGES = ["2020-02-29", "2021-02-29", "1900-02-29", "2000-02-29", "2100-02-29", "2400-02-29",
              "2021-04-31", "2021-12-32", "2021-13-01", "2021-00-10", "2021-01-00", "0000-01-01",
              "0001-01-01", "9999-12-31", "2021-W01-1", "2021/01/01", "2021-1-011"]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(dates, noisy, st.sampled_from(LEAP_EDGES)), min_size=1, max_size=40))
@example(LEAP_EDGES)
def test_days_from_iso_bytes_agrees_with_fromisoformat(texts: list[str]) -> None:
    days, valid = parse(texts)
    for text, day, ok in zip(texts, days, valid, strict=True):
        expected = reference(text)
        assert ok == (expected is not None), text
        if ok:
            assert day == expected, text
            assert iso_from_days(day) == text


def test_the_last_day_of_each_month_is_valid_and_the_next_is_not() -> None:
    texts = [
        f"{y}-{m:02d}-{d:02d}"
        for y in (2020, 2021, 1900, 2000)
        for m in range(1, 13)
        for d in (28, 29, 30, 31, 32)
    ]
    _, valid = parse(texts)
    assert [t for t, ok in zip(texts, valid, strict=True) if ok] == [
        t for t in texts if reference(t) is not None
    ]


groups = st.integers(1, 4).flatmap(
    lambda n_regions: st.integers(1, 3).flatmap(
        lambda n_products: st.tuples(
            st.just(n_regions), st.just(n_products),
            st.lists(st.tuples(st.integers(0, n_regions - 1), st.integers(0, n_products - 1), st.booleans()),
                     min_size=0, max_size=60),
        )
    )
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(groups, st.sampled_from([(18_600, 18_990), (-719_162, 2_932_896), (0, 0)]), st.randoms())
def test_count_groups_agrees_with_a_counter(
    shape: tuple[int, int, list[tuple[int, int, bool]]], span: tuple[int, int], rng: object
) -> None:
    """Days within a year use the dense table; days over centuries (0001 to 9999) take the sort path."""
    n_regions, n_products, rows = shape
    low, high = span
    days = [rng.randint(low, high) for _ in rows]  # type: ignore[attr-defined]
    if rows and high - low > 1000:
        days[0], days[-1] = low, high  # wide enough that the dense table would be too large
    grouped = count_groups(
        np.array(days, dtype=np.int32),
        np.array([r for r, _, _ in rows], dtype=np.int32),
        np.array([p for _, p, _ in rows], dtype=np.int32),
        np.array([o for _, _, o in rows], dtype=np.bool_),
        n_regions,
        n_products,
    )
    got: Counter[tuple[int, int, int, bool]] = Counter()
    for day, region, product, online, count in zip(
        grouped.days.tolist(), grouped.regions.tolist(), grouped.products.tolist(),
        grouped.online.tolist(), grouped.counts.tolist(), strict=True,
    ):  # fmt: skip
        assert count > 0
        got[(day, region, product, online)] += count
    assert got == Counter((d, r, p, o) for d, (r, p, o) in zip(days, rows, strict=True))


def test_count_groups_sort_path_over_centuries() -> None:
    days = np.array([-719_162, 2_932_896, 18_993, 18_993, -719_162], dtype=np.int32)
    grouped = count_groups(days, np.zeros(5, np.int32), np.zeros(5, np.int32), np.ones(5, np.bool_), 3, 2)
    assert dict(zip(grouped.days.tolist(), grouped.counts.tolist(), strict=True)) == {
        -719_162: 2, 18_993: 2, 2_932_896: 1,
    }  # fmt: skip


def leap_file(path: Path) -> tuple[Path, list[str]]:
    """Good days, 2021-02-29 (not a date) and other invalid dates, spread so every chunk size mixes them."""
    days = ["2021-02-28", "2021-02-29", "2021-13-01", "2021-03-01", "2021-02-29", "2021-02-30",
            "2020-02-29", "2021-02-29", "2021-00-05", "2021-12-31", "2021-02-29", "2021-06-31"]  # fmt: skip
    rows = [f"L{i},{day},branch" for i, day in enumerate(days * 3)]  # branch: no factor needed for 2020
    path.write_text("loan_id,disbursed_on,channel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path, days * 3


@pytest.mark.parametrize("chunk_rows", [1, 2, 3, 5, 7, 12, 1000])
def test_2021_02_29_is_rejected_whatever_the_chunk_holds(
    tmp_path: Path, shipped_registry: FactorRegistry, chunk_rows: int
) -> None:
    path, days = leap_file(tmp_path / "leap.csv")
    bad = [f"line {i + 2}" for i, day in enumerate(days) if reference(day) is None]
    result = calculate_loan_chunks(
        shipped_registry, read_loan_chunks(path, "csv", chunk_rows), release="2026-12", keep_rejected=1000,
    )  # fmt: skip
    assert [r.where for r in result.rejected] == bad
    assert result.loans_counted == sum(reference(d) is not None for d in days)
