"""CarbonClient (sync) and AsyncCarbonClient: the same typed endpoints, sent with bounded, safe retries.

Each endpoint is written once, in `_calls`, as a function building a `Call` (request bytes, Idempotency-Key
and the parser of the answer); the `endpoint` descriptor below makes it a method of both clients, typed
`(...) -> T` on CarbonClient and `(...) -> Awaitable[T]` on AsyncCarbonClient.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, ParamSpec, Self, TypeVar, overload

import httpx

from carbon.client import _calls
from carbon.client._calls import Call
from carbon.client._retry import Attempts, RetryPolicy
from carbon.client.errors import CarbonTransportError, error_from_response
from carbon.client.types import Entry, ResultUnit

__all__ = ["AsyncCarbonClient", "CarbonClient", "endpoint"]

P = ParamSpec("P")
T = TypeVar("T")
_log = logging.getLogger("carbon.client")
USER_AGENT = "carbon-client/1"
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class _Done(Generic[T]):
    value: T


class endpoint(Generic[P, T]):
    """A `Call` builder as a method: sync on CarbonClient, awaitable on AsyncCarbonClient."""

    def __init__(self, build: Callable[P, Call[T]]) -> None:
        self.build = build
        self.__doc__ = build.__doc__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> endpoint[P, T]: ...
    @overload
    def __get__(self, obj: CarbonClient, owner: type[Any]) -> Callable[P, T]: ...
    @overload
    def __get__(self, obj: AsyncCarbonClient, owner: type[Any]) -> Callable[P, Awaitable[T]]: ...

    def __get__(self, obj: CarbonClient | AsyncCarbonClient | None, owner: type[Any]) -> Any:
        if obj is None:
            return self
        build = self.build
        execute = obj._execute

        def method(*args: P.args, **kwargs: P.kwargs) -> Any:
            return execute(build(*args, **kwargs))

        method.__doc__ = build.__doc__
        method.__name__ = build.__name__
        return method


def _settle(call: Call[T], attempts: Attempts, response: httpx.Response) -> _Done[T] | float:
    """The parsed answer, or how long to wait before the next attempt; raises the typed error otherwise."""
    if response.is_success:
        return _Done(call.parse(response))
    wait = attempts.wait_after_response(response)
    if wait is None:
        raise error_from_response(response, attempts=attempts.count)
    _log.info("%s %s answered %d; attempt %d again in %.2f s", call.method, call.path,
              response.status_code, attempts.count + 1, wait)  # fmt: skip
    return wait


def _failed(call: Call[Any], attempts: Attempts, error: httpx.TransportError) -> float:
    """How long to wait after a transport error; CarbonTransportError when it is not worth retrying, or out
    of attempts (the httpx error is its __cause__)."""
    wait = attempts.wait_after_error(error)
    if wait is None:
        what = f"{type(error).__name__}: {error}"
        message = f"{call.method} {call.path}: {what} (after {attempts.count} attempts)"
        raise CarbonTransportError(message, attempts=attempts.count) from error
    _log.info("%s %s failed (%s); attempt %d again in %.2f s", call.method, call.path,
              type(error).__name__, attempts.count + 1, wait)  # fmt: skip
    return wait


def _headers(api_key: str | None, headers: dict[str, str] | None) -> dict[str, str]:
    merged = {"User-Agent": USER_AGENT}
    if api_key is not None:
        merged["Authorization"] = f"Bearer {api_key}"
    merged.update(headers or {})
    return merged


class _Endpoints:
    """Every endpoint of the service, shared by both clients (see `_calls` for each one's parameters)."""

    # writes: a new Idempotency-Key per call unless `idempotency_key=` is given, the same on every retry
    record_loan_batch = endpoint(_calls.record_loan_batch)
    record_energy_saving = endpoint(_calls.record_energy_saving)
    record_activities = endpoint(_calls.record_activities)
    reverse_entry = endpoint(_calls.reverse_entry)
    upload_job = endpoint(_calls.upload_job)
    # calculations: nothing is recorded
    calculate_loan_batch = endpoint(_calls.calculate_loan_batch)
    calculate_energy_saving = endpoint(_calls.calculate_energy_saving)
    loan_intensity = endpoint(_calls.loan_intensity)
    carbon_aware_windows = endpoint(_calls.carbon_aware_windows)
    # reads
    list_entries = endpoint(_calls.list_entries)
    get_entry = endpoint(_calls.get_entry)
    totals = endpoint(_calls.totals)
    get_job = endpoint(_calls.get_job)
    get_rejected_rows = endpoint(_calls.get_rejected_rows)
    scope_report = endpoint(_calls.scope_report)
    scope_report_file = endpoint(_calls.scope_report_file)
    trace = endpoint(_calls.trace)
    factor_releases = endpoint(_calls.factor_releases)
    factor_release = endpoint(_calls.factor_release)
    factors = endpoint(_calls.factors)
    factor = endpoint(_calls.factor)
    query_account = endpoint(_calls.query_account)
    erase_account = endpoint(_calls.erase_account)
    account_distribution = endpoint(_calls.account_distribution)
    healthz = endpoint(_calls.healthz)
    readyz = endpoint(_calls.readyz)


class CarbonClient(_Endpoints):
    """The carbon-ledger service over HTTP, synchronously.

    `CarbonClient("http://127.0.0.1:8000")`, or over any `httpx.Client` (`http=`, whose base URL is used),
    or an httpx transport (`transport=`). Use it as a context manager, or call `close()`.
    """

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._owned = http is None
        self._http = http or httpx.Client(base_url=base_url, timeout=timeout, transport=transport)
        self._headers = _headers(api_key, headers)

    def _execute(self, call: Call[T]) -> T:
        attempts = Attempts(self.retry, call.retry, self._clock)
        headers = {**self._headers, **call.headers()}
        while True:
            attempts.start()
            try:
                response = self._http.request(
                    call.method, call.path, params=call.params, content=call.content, headers=headers
                )
            except httpx.TransportError as error:
                self._sleep(_failed(call, attempts, error))
                continue
            outcome = _settle(call, attempts, response)
            if isinstance(outcome, _Done):
                return outcome.value
            self._sleep(outcome)

    def iter_entries(self, *, page_size: int = 500, unit: ResultUnit | None = None) -> Iterator[Entry]:
        """Every ledger entry in recording order, fetching page after page."""
        after: str | None = None
        while True:
            page = self.list_entries(limit=page_size, starting_after=after, unit=unit)
            yield from page["data"]
            if not page["has_more"] or not page["data"]:
                return
            after = page["data"][-1]["entry_id"]

    def close(self) -> None:
        """Close the connections (only those of an httpx.Client this client made)."""
        if self._owned:
            self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


async def _async_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


class AsyncCarbonClient(_Endpoints):
    """The carbon-ledger service over HTTP, with asyncio: the same methods as CarbonClient, awaitable."""

    def __init__(
        self,
        base_url: str = "http://127.0.0.1:8000",
        *,
        api_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        headers: dict[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        http: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = _async_sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._owned = http is None
        self._http = http or httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)
        self._headers = _headers(api_key, headers)

    async def _execute(self, call: Call[T]) -> T:
        attempts = Attempts(self.retry, call.retry, self._clock)
        headers = {**self._headers, **call.headers()}
        while True:
            attempts.start()
            try:
                response = await self._http.request(call.method, call.path, params=call.params,
                                                    content=call.content, headers=headers)  # fmt: skip
            except httpx.TransportError as error:
                await self._sleep(_failed(call, attempts, error))
                continue
            outcome = _settle(call, attempts, response)
            if isinstance(outcome, _Done):
                return outcome.value
            await self._sleep(outcome)

    async def iter_entries(
        self, *, page_size: int = 500, unit: ResultUnit | None = None
    ) -> AsyncIterator[Entry]:
        """Every ledger entry in recording order, fetching page after page."""
        after: str | None = None
        while True:
            page = await self.list_entries(limit=page_size, starting_after=after, unit=unit)
            for entry in page["data"]:
                yield entry
            if not page["has_more"] or not page["data"]:
                return
            after = page["data"][-1]["entry_id"]

    async def aclose(self) -> None:
        """Close the connections (only those of an httpx.AsyncClient this client made)."""
        if self._owned:
            await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
