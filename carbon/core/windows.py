"""Carbon-aware windows: when to start a job so that its energy meets the least carbon-intense grid.

Given a grid-intensity series at a uniform step of an hour or less and a job's energy per step, every
start from "now" on whose job finishes by the deadline is a candidate; its emissions are
``sum over steps k of energy[k] x intensity[start + k]``, computed exactly (integers over a common
denominator) and rounded half-to-even to the milligram once per candidate. The lowest candidates come
first (ties to the earlier start), each with what it saves against starting now. The core reads no clock:
"now" is a parameter.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

import numpy as np

from carbon.core.calculate import round_mg
from carbon.core.units import MILLIGRAM, conversion_factor, describe_dimension, parse_unit
from carbon.errors import DimensionError, QuantityError, RequestError

__all__ = ["MAX_STEP", "IntensitySeries", "Window", "WindowSearch", "find_windows", "intensity_series"]

MAX_STEP = timedelta(hours=1)
_ENERGY = parse_unit("kWh")
_MG = parse_unit(MILLIGRAM)
_PER_ENERGY = parse_unit("gCO2e/kWh")
_INT64_SAFE = 2**62


@dataclass(frozen=True, slots=True)
class IntensitySeries:
    """Grid intensity at a uniform step: `values[i]` (in `unit`, CO2e per energy) from `starts[i]`."""

    starts: tuple[datetime, ...]
    values: tuple[Fraction, ...]
    unit: str
    step: timedelta
    region: str | None = None

    @property
    def end(self) -> datetime:
        """When the last point's step ends."""
        return self.starts[-1] + self.step


@dataclass(frozen=True, slots=True)
class Window:
    """A start time, when the job would end, its emissions and what it saves against starting now."""

    start: datetime
    end: datetime
    mg: int
    saved_mg: int


@dataclass(frozen=True, slots=True)
class WindowSearch:
    """The run-now window, the best windows (lowest first) and how many starts were compared."""

    now: Window
    best: tuple[Window, ...]
    candidates: int
    step: timedelta
    energy: Fraction


def intensity_series(
    points: Sequence[tuple[datetime, Fraction]],
    unit: str,
    region: str | None = None,
    step: timedelta | None = None,
) -> IntensitySeries:
    """Check and freeze a series: time-zone aware, strictly increasing, one uniform step of at most an hour,
    no gaps, values not negative, and a unit of CO2e mass per energy.

    The step is the spacing of the points; a series of one point has the `step` given, or an hour.
    """
    if not points:
        raise RequestError("the grid-intensity series has no points")
    parsed = parse_unit(unit)
    if parsed.dimensionality != _PER_ENERGY.dimensionality:
        raise DimensionError(unit, "CO2e mass per energy", describe_dimension(parsed))
    starts = tuple(start for start, _ in points)
    if any(start.tzinfo is None or start.utcoffset() is None for start in starts):
        raise RequestError("every point's time needs a time zone (like 2026-11-22T08:00:00Z)")
    values = tuple(value for _, value in points)
    negative = next((i for i, v in enumerate(values) if v < 0), None)
    if negative is not None:
        raise QuantityError(f"intensity at {starts[negative].isoformat()} is negative")
    if len(starts) > 1:
        spacing = starts[1] - starts[0]
        if step is not None and spacing != step:
            raise RequestError(f"the points are {spacing} apart, not the step given ({step})")
        step = spacing
    step = step or MAX_STEP
    if not timedelta(0) < step <= MAX_STEP:
        raise RequestError(f"the series step must be more than zero and at most an hour, got {step}")
    for earlier, later in zip(starts, starts[1:], strict=False):
        if later - earlier != step:
            raise RequestError(
                f"the series must have one uniform step ({step}); after {earlier.isoformat()} comes "
                f"{later.isoformat()}"
            )
    return IntensitySeries(starts, values, unit, step, region)


def _first_candidate(series: IntensitySeries, now: datetime | None) -> int:
    """The step that contains `now` (the series' first when `now` is earlier or not given)."""
    if now is None or now <= series.starts[0]:
        return 0
    if now >= series.end:
        raise RequestError(f"the series ends at {series.end.isoformat()}, before now ({now.isoformat()})")
    return (now - series.starts[0]) // series.step


def _scaled(values: Sequence[Fraction]) -> tuple[list[int], int]:
    """Integers over one common denominator: exact, and fast to multiply."""
    denominator = math.lcm(*(v.denominator for v in values))
    return [int(v * denominator) for v in values], denominator


def _window_sums(intensity: list[int], energy: list[int]) -> list[int]:
    """sum_k energy[k] x intensity[i + k] for every i: int64 when it cannot overflow, else Python ints."""
    largest = max(intensity, default=0) * max(energy, default=0) * len(energy)
    if largest < _INT64_SAFE:
        sums = np.correlate(np.array(intensity, dtype=np.int64), np.array(energy, dtype=np.int64), "valid")
        return [int(s) for s in sums]
    rows = np.array(intensity, dtype=object)
    n = len(intensity) - len(energy) + 1
    total = np.zeros(n, dtype=object)
    for k, e in enumerate(energy):
        total = total + rows[k : k + n] * e
    return [int(s) for s in total]


def find_windows(
    series: IntensitySeries,
    profile: Sequence[Fraction],
    profile_unit: str,
    deadline: datetime,
    *,
    now: datetime | None = None,
    top: int = 3,
) -> WindowSearch:
    """The `top` lowest-emission starts for a job using `profile[k]` energy in its k-th step.

    Candidates start at the step containing `now` or later, and end by `deadline` within the series.
    """
    if not profile:
        raise RequestError("the job's energy profile has no steps")
    if top < 1:
        raise RequestError(f"top must be 1 or more, got {top}")
    if deadline.tzinfo is None or (now is not None and now.tzinfo is None):
        raise RequestError("the deadline and now need a time zone (like 2026-11-22T08:00:00Z)")
    to_kwh = conversion_factor(parse_unit(profile_unit), _ENERGY)
    energy = [e * to_kwh for e in profile]
    if any(e < 0 for e in energy):
        raise QuantityError("a step of the energy profile is negative")
    first, steps = _first_candidate(series, now), len(energy)
    last = min(len(series.starts) - steps, (deadline - series.starts[0] - steps * series.step) // series.step)
    if last < first:
        raise RequestError(
            f"no start from {series.starts[first].isoformat()} lets a job of {steps} step(s) of "
            f"{series.step} finish by {deadline.isoformat()} within the series "
            f"(it ends {series.end.isoformat()})"
        )
    per_kwh = conversion_factor(parse_unit(series.unit) * _ENERGY, _MG)
    intensity, intensity_scale = _scaled([v * per_kwh for v in series.values[first : last + steps]])
    work, work_scale = _scaled(energy)
    sums = _window_sums(intensity, work)
    mg = [round_mg(Fraction(s, intensity_scale * work_scale)) for s in sums]
    windows = [_window(series, first + i, steps, m, mg[0] - m) for i, m in enumerate(mg)]
    ranked = sorted(range(len(windows)), key=lambda i: (mg[i], i))[:top]
    total = sum(energy, Fraction(0))
    return WindowSearch(windows[0], tuple(windows[i] for i in ranked), len(windows), series.step, total)


def _window(series: IntensitySeries, index: int, steps: int, mg: int, saved: int) -> Window:
    start = series.starts[index]
    return Window(start, start + steps * series.step, mg, saved)
