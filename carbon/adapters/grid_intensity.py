"""Grid-intensity series: read from an uploaded CSV or JSON, or fetched from a configured provider with httpx.

Both formats carry a time-zone-aware start per point, an intensity as a decimal, and its unit:

    CSV   start,intensity,unit                       JSON  {"unit": "gCO2e/kWh", "region": "CN",
          2026-11-22T00:00:00Z,530.6,gCO2e/kWh              "points": [{"start": "2026-11-22T00:00:00Z",
                                                                        "intensity": "530.6"}, ...]}

Malformed data is a RequestError naming the line or point (an upload: the client can fix it). The
provider is off unless a URL is configured; it is called as ``GET URL?region=&start=&end=`` and answers
either format. Timeouts and connection errors and 5xx answers are retried with exponential backoff; a
4xx, malformed data or the last failed attempt is an UpstreamError (HTTP 502), which does not name the
provider's address (the log does). The provider is asked for whole hours around the period wanted, and its
answers are kept in a small in-memory cache for `cache_seconds`: callers whose clocks differ by seconds share
one answer.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

import httpx

from carbon.core.units import exact_amount
from carbon.core.windows import IntensitySeries, intensity_series
from carbon.errors import CarbonError, RequestError, UpstreamError

__all__ = ["GridIntensityProvider", "parse_series", "parse_series_csv", "parse_series_json"]

_log = logging.getLogger("carbon.grid_intensity")

MAX_POINTS = 10_000
MAX_RESPONSE_BYTES = 8 * 1024 * 1024
_CSV_COLUMNS = ("start", "intensity", "unit")
_HOUR = timedelta(hours=1)
_Period = tuple[str, datetime, datetime]  # region, start, end


def _moment(text: object, where: str) -> datetime:
    """An ISO 8601 time with its zone."""
    if not isinstance(text, str):
        raise RequestError(f"{where}: start must be an ISO 8601 time string, got {type(text).__name__}")
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise RequestError(f"{where}: start {text[:40]!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise RequestError(f"{where}: start {text[:40]!r} has no time zone (add Z or +08:00)")
    return moment


def _intensity(value: object, where: str) -> Fraction:
    """An exact, non-negative intensity from a decimal string or a JSON number (never via float)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, Decimal)):
        raise RequestError(f"{where}: intensity must be a decimal number, got {value!r:.40}")
    try:
        return exact_amount(value)
    except CarbonError as error:
        raise RequestError(f"{where}: intensity {error}") from None


def _too_many(count: int) -> None:
    if count > MAX_POINTS:
        raise RequestError(f"a series holds at most {MAX_POINTS} points; this one has more")


def parse_series_csv(text: str, region: str | None = None) -> IntensitySeries:
    """Read `start,intensity,unit` rows (one unit for the whole series) into a checked series."""
    rows = csv.reader(io.StringIO(text))
    header = [cell.strip().lower() for cell in next(rows, [])]
    if any(column not in header for column in _CSV_COLUMNS):
        raise RequestError(f"line 1: the CSV header must name {', '.join(_CSV_COLUMNS)}; got {header[:5]}")
    at = {column: header.index(column) for column in _CSV_COLUMNS}
    points: list[tuple[datetime, Fraction]] = []
    units: set[str] = set()
    for line, cells in enumerate(rows, 2):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            raise RequestError(f"line {line}: {len(cells)} cells where the header has {len(header)}")
        where = f"line {line}"
        points.append((_moment(cells[at["start"]], where), _intensity(cells[at["intensity"]].strip(), where)))
        units.add(cells[at["unit"]].strip())
        _too_many(len(points))
    if len(units) > 1:
        raise RequestError(f"a series has one unit; this one has {', '.join(sorted(units))}")
    return intensity_series(points, units.pop() if units else "gCO2e/kWh", region)


def parse_series_json(text: str | bytes, region: str | None = None) -> IntensitySeries:
    """Read `{"unit": ..., "region": ..., "points": [{"start": ..., "intensity": ...}]}` into a series."""
    try:
        data: Any = json.loads(text, parse_float=Decimal)
    except (ValueError, RecursionError) as error:
        raise RequestError(f"not valid JSON: {str(error)[:120]}") from None
    if not isinstance(data, dict) or not isinstance(data.get("points"), list):
        raise RequestError('a JSON series is an object with "unit" and a "points" list')
    unit = data.get("unit")
    if not isinstance(unit, str):
        raise RequestError('a JSON series needs its "unit", like "gCO2e/kWh"')
    named = data.get("region")
    _too_many(len(data["points"]))
    points = []
    for number, point in enumerate(data["points"]):
        where = f"point {number}"
        if not isinstance(point, dict):
            raise RequestError(f'{where}: must be an object with "start" and "intensity"')
        points.append((_moment(point.get("start"), where), _intensity(point.get("intensity"), where)))
    return intensity_series(points, unit, region or (named if isinstance(named, str) else None))


def parse_series(text: str | bytes, fmt: str, region: str | None = None) -> IntensitySeries:
    """A series from CSV or JSON text; every problem is a RequestError."""
    try:
        if fmt == "csv":
            return parse_series_csv(text.decode() if isinstance(text, bytes) else text, region)
        if fmt == "json":
            return parse_series_json(text, region)
    except UnicodeDecodeError:
        raise RequestError("the series is not UTF-8 text") from None
    except CarbonError as error:
        if isinstance(error, RequestError):
            raise
        raise RequestError(str(error)) from None
    raise RequestError(f"unknown series format {fmt!r}; use csv or json")


class GridIntensityProvider:
    """A grid-intensity HTTP provider with timeouts, retries with backoff on 5xx and connection errors,
    and a small in-memory cache. `transport`, `sleep` and `clock` are seams for tests."""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 5.0,
        retries: int = 2,
        backoff: float = 0.5,
        cache_seconds: float = 300,
        cache_size: int = 32,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.cache_seconds = cache_seconds
        self.cache_size = cache_size
        self._transport = transport
        self._sleep = sleep
        self._clock = clock
        self._cache: OrderedDict[_Period, tuple[float, IntensitySeries]] = OrderedDict()
        self._lock = threading.Lock()
        self.requests_made = 0

    @property
    def where(self) -> str:
        """The provider's address without query or credentials, for messages."""
        url = httpx.URL(self.url)
        port = f":{url.port}" if url.port else ""
        return f"{url.scheme}://{url.host}{port}{url.path}"

    def fetch(self, region: str, start: datetime, end: datetime) -> IntensitySeries:
        """The series for `region` over [start, end], from the cache or the provider."""
        key = (region, *_whole_hours(start, end))
        cached = self._cached(key)
        if cached is not None:
            return cached
        body, fmt = self._get({"region": region, "start": key[1].isoformat(), "end": key[2].isoformat()})
        try:
            series = parse_series(body, fmt, region)
        except RequestError as error:
            raise self._failed(f"sent malformed data: {error}") from None
        self._remember(key, series)
        return series

    def _cached(self, key: _Period) -> IntensitySeries | None:
        """A live answer for the region whose period covers the one wanted; expired answers are dropped."""
        region, start, end = key
        with self._lock:
            now = self._clock()
            for expired in [k for k, (until, _) in self._cache.items() if until <= now]:
                del self._cache[expired]
            for (held_region, held_start, held_end), (_, series) in self._cache.items():
                if held_region == region and held_start <= start and end <= held_end:
                    return series
            return None

    def _failed(self, what: str, attempts: int = 1) -> UpstreamError:
        """The error for the client, which does not say where the provider is; the log does."""
        _log.warning("the grid-intensity provider at %s %s", self.where, what)
        return UpstreamError(f"the grid-intensity provider {what}", attempts=attempts)

    def _remember(self, key: _Period, series: IntensitySeries) -> None:
        if self.cache_seconds <= 0:
            return
        with self._lock:
            self._cache[key] = (self._clock() + self.cache_seconds, series)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def _get(self, params: dict[str, str]) -> tuple[bytes, str]:
        """The provider's answer and its format, retrying what a retry can fix."""
        attempts = self.retries + 1
        failure = ""
        with httpx.Client(transport=self._transport, timeout=self.timeout, follow_redirects=False) as client:
            for attempt in range(attempts):
                if attempt:
                    self._sleep(self.backoff * 2 ** (attempt - 1))
                self.requests_made += 1
                try:
                    status, content_type, body = self._request(client, params)
                except httpx.TimeoutException:
                    failure = f"timed out after {self.timeout} s"
                    continue
                except httpx.TransportError as error:
                    failure = f"could not be reached ({type(error).__name__})"
                    continue
                if status >= 500:
                    failure = f"answered {status}"
                    continue
                if status != 200:
                    raise self._failed(f"answered {status}", attempts=attempt + 1)
                return body, "csv" if "csv" in content_type else "json"
        raise self._failed(f"{failure} ({attempts} attempt(s))", attempts=attempts)

    def _request(self, client: httpx.Client, params: dict[str, str]) -> tuple[int, str, bytes]:
        """One GET, reading at most MAX_RESPONSE_BYTES of the body."""
        headers = {"Accept": "application/json, text/csv"}
        url = httpx.URL(self.url).copy_merge_params(params)  # keeps the configured query (a token, say)
        with client.stream("GET", url, headers=headers) as response:
            body = b"".join(_capped(response.iter_bytes()))
            return response.status_code, response.headers.get("content-type", ""), body


def _whole_hours(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """[start, end] widened to whole UTC hours (a provider's step is at most an hour): the period asked."""
    first = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    last = end.astimezone(UTC)
    rounded = last.replace(minute=0, second=0, microsecond=0)
    return first, rounded if rounded == last else rounded + _HOUR


def _capped(chunks: Iterator[bytes]) -> Iterator[bytes]:
    size = 0
    for chunk in chunks:
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise UpstreamError(f"the grid-intensity provider sent more than {MAX_RESPONSE_BYTES} bytes")
        yield chunk
