"""The carbon-aware window finder: the true minimum (against brute force), exact mg, clear refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbon.core.windows import IntensitySeries, find_windows, intensity_series
from carbon.errors import DimensionError, QuantityError, RequestError

T0 = datetime(2026, 11, 22, tzinfo=UTC)
HOUR = timedelta(hours=1)


def series_of(values: list[Fraction], step: timedelta = HOUR, unit: str = "gCO2e/kWh") -> IntensitySeries:
    return intensity_series([(T0 + i * step, v) for i, v in enumerate(values)], unit)


def brute_force(values: list[Fraction], profile: list[Fraction], first: int, last: int) -> dict[int, int]:
    """Milligrams per start, the slow obvious way: g/kWh x kWh x 1000, summed exactly, rounded once."""
    return {
        i: round(sum((e * values[i + k] * 1000 for k, e in enumerate(profile)), Fraction(0)))
        for i in range(first, last + 1)
    }


decimals = st.decimals(min_value=0, max_value=2000, places=3, allow_nan=False, allow_infinity=False).map(
    Fraction
)
energies = st.decimals(min_value=0, max_value=50, places=4, allow_nan=False, allow_infinity=False).map(
    Fraction
)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(decimals, min_size=1, max_size=60),
    profile=st.lists(energies, min_size=1, max_size=8),
    now_index=st.integers(min_value=0, max_value=70),
    deadline_index=st.integers(min_value=0, max_value=70),
    step_minutes=st.sampled_from([5, 15, 30, 60]),
    top=st.integers(min_value=1, max_value=5),
)
def test_the_best_windows_are_the_true_minimum(
    values: list[Fraction],
    profile: list[Fraction],
    now_index: int,
    deadline_index: int,
    step_minutes: int,
    top: int,
) -> None:
    step = timedelta(minutes=step_minutes)
    series = intensity_series([(T0 + i * step, v) for i, v in enumerate(values)], "gCO2e/kWh", step=step)
    now, deadline = T0 + now_index * step, T0 + deadline_index * step
    first = now_index
    last = min(len(values) - len(profile), deadline_index - len(profile))
    if now_index >= len(values) or last < first:
        with pytest.raises(RequestError):
            find_windows(series, profile, "kWh", deadline, now=now, top=top)
        return
    expected = brute_force(values, profile, first, last)
    found = find_windows(series, profile, "kWh", deadline, now=now, top=top)
    assert found.candidates == len(expected)
    assert found.now.start == now and found.now.mg == expected[first]
    best = min(expected.values())
    assert found.best[0].mg == best
    assert found.best[0].saved_mg == expected[first] - best
    ranked = sorted(expected, key=lambda i: (expected[i], i))[:top]
    assert [w.start for w in found.best] == [T0 + i * step for i in ranked]
    assert [w.mg for w in found.best] == [expected[i] for i in ranked]
    assert all(w.end == w.start + len(profile) * step <= deadline for w in found.best)


def test_a_hand_computed_example() -> None:
    # hourly 500, 400, 100, 100, 300 g/kWh; a job of 2 kWh then 1 kWh; now 00:00, deadline 05:00
    # starts: 00:00 -> 2x500+1x400 = 1400 g; 01:00 -> 800+100 = 900; 02:00 -> 200+100 = 300;
    # 03:00 -> 200+300 = 500
    series = series_of([Fraction(v) for v in (500, 400, 100, 100, 300)])
    found = find_windows(series, [Fraction(2), Fraction(1)], "kWh", T0 + 5 * HOUR, now=T0, top=2)
    assert found.now.mg == 1_400_000
    assert [(w.start.hour, w.mg, w.saved_mg) for w in found.best] == [
        (2, 300_000, 1_100_000),
        (3, 500_000, 900_000),
    ]
    assert found.candidates == 4 and found.energy == 3


def test_exact_milligrams_and_unit_conversion() -> None:
    # 0.5306 kgCO2/kWh for 1.5 Wh = 0.7959 g = 795.9 mg, rounded once to 796 mg
    series = series_of([Fraction("0.5306")], unit="kgCO2/kWh")
    found = find_windows(series, [Fraction("1.5")], "Wh", T0 + HOUR, now=T0)
    assert found.now.mg == 796
    # a tie at .5 mg goes to the even milligram: 0.0025 g/kWh x 1 kWh = 2.5 mg -> 2
    assert find_windows(series_of([Fraction("0.0025")]), [Fraction(1)], "kWh", T0 + HOUR).now.mg == 2


def test_now_inside_a_step_starts_with_that_step() -> None:
    series = series_of([Fraction(v) for v in (100, 50, 10)])
    found = find_windows(series, [Fraction(1)], "kWh", T0 + 3 * HOUR, now=T0 + timedelta(minutes=90))
    assert found.now.start == T0 + HOUR
    assert found.best[0].start == T0 + 2 * HOUR


def test_large_values_take_the_exact_path() -> None:
    # values too large for int64 products still give exact milligrams
    big = Fraction(10**15)
    found = find_windows(series_of([big, big / 2]), [Fraction(10**6)], "kWh", T0 + 2 * HOUR, now=T0)
    assert found.best[0].mg == 10**15 * 10**6 * 1000 // 2


def test_refusals_are_clear() -> None:
    with pytest.raises(RequestError, match="no points"):
        intensity_series([], "gCO2e/kWh")
    with pytest.raises(RequestError, match="uniform step"):
        intensity_series(
            [(T0, Fraction(1)), (T0 + HOUR, Fraction(1)), (T0 + 3 * HOUR, Fraction(1))], "gCO2e/kWh"
        )
    with pytest.raises(RequestError, match="at most an hour"):
        intensity_series([(T0, Fraction(1)), (T0 + 2 * HOUR, Fraction(1))], "gCO2e/kWh")
    with pytest.raises(RequestError, match="time zone"):
        intensity_series([(datetime(2026, 11, 22), Fraction(1))], "gCO2e/kWh")
    with pytest.raises(QuantityError, match="negative"):
        intensity_series([(T0, Fraction(-1))], "gCO2e/kWh")
    with pytest.raises(DimensionError):
        intensity_series([(T0, Fraction(1))], "gCO2e/loan")
    series = series_of([Fraction(1)] * 3)
    with pytest.raises(RequestError, match="finish by"):
        find_windows(series, [Fraction(1)] * 3, "kWh", T0 + 2 * HOUR, now=T0)
    with pytest.raises(RequestError, match="before now"):
        find_windows(series, [Fraction(1)], "kWh", T0 + 9 * HOUR, now=T0 + 5 * HOUR)
    with pytest.raises(DimensionError):
        find_windows(series, [Fraction(1)], "loan", T0 + 3 * HOUR)
