"""Limits that keep the service up under load: a rate per key, a cap on concurrent requests, a deadline.

Refusals are RFC 9457 problem+json and say when to come back: 429 (RateLimiter, through the CarbonError
handler), 503 (ConcurrencyLimit) and 504 (RequestTimeout, which never cancels the request it gives up on).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from carbon.api.problems import problem
from carbon.errors import RateLimitedError

__all__ = ["ConcurrencyLimit", "RateLimiter", "RequestTimeout"]

_log = logging.getLogger("carbon.api")


def _seconds(value: float) -> str:
    """Seconds for a message: 0.02, 1.5, 12.3, 150 (never 1.5e+02)."""
    return f"{value:.3g}" if value < 100 else f"{value:.0f}"


class RateLimiter:
    """A token bucket per key: `burst` requests at once, then `rate` a second; `rate <= 0` means no limit.

    Memory stays bounded: a bucket that has refilled is dropped (a new one starts full, so nothing changes),
    and past `max_keys` buckets the stalest go first (which can only grant its key a fresh burst early).
    Thread-safe: sync routes call `check` from the threadpool.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 100_000,
        subject: str = "this API key",
    ) -> None:
        if rate > 0 and burst < 1:
            raise ValueError(f"a rate limit needs a burst of at least 1, not {burst}")
        if max_keys < 1:
            raise ValueError(f"max_keys must be at least 1, not {max_keys}")
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self.subject = subject  # what a bucket belongs to, for the message
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = (
            OrderedDict()
        )  # key: (tokens, at), stalest first
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """How many keys have a bucket: what the limiter holds in memory."""
        return len(self._buckets)

    def check(self, key: str) -> None:
        """Take one token for `key`, or raise RateLimitedError saying how long until one is there."""
        if self.rate <= 0:
            return
        with self._lock:
            now = self._clock()
            tokens = self._refilled(key, now)
            allowed = tokens >= 1
            self._buckets[key] = (tokens - 1 if allowed else tokens, now)
            self._evict(now)
        if allowed:
            return
        retry_after = (1 - tokens) / self.rate
        raise RateLimitedError(
            f"rate limit of {self.rate:g} requests per second (burst {self.burst}) exceeded "
            f"for {self.subject}; retry after {_seconds(retry_after)} s",
            retry_after=retry_after,
        )

    def _refilled(self, key: str, now: float) -> float:
        """The key's tokens now; its bucket is taken out, so putting it back makes it the freshest."""
        bucket = self._buckets.pop(key, None)
        if bucket is None:
            return float(self.burst)
        tokens, at = bucket
        return min(float(self.burst), tokens + max(0.0, now - at) * self.rate)

    def _evict(self, now: float) -> None:
        """Drop the stalest buckets over `max_keys`, then stale ones that are full again (amortised O(1))."""
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        while self._buckets:
            key, (tokens, at) = next(iter(self._buckets.items()))
            if tokens + max(0.0, now - at) * self.rate < self.burst:
                return
            del self._buckets[key]


class ConcurrencyLimit:
    """At most `limit` HTTP requests run at once; one that gets no slot within `wait` s is refused with 503.

    Refusing early keeps latency bounded for the requests admitted instead of queueing everyone into timeouts.
    Paths in `exempt` (probes, metrics) are never limited; `limit <= 0` means no limit. The semaphore is made
    in the loop that serves the request, one per loop: the app is built before any loop runs, and TestClient
    runs a loop of its own per client (a semaphore bound to a closed loop would fail). Each loop (each worker
    process) has its own `limit`.
    """

    def __init__(self, app: ASGIApp, limit: int, wait: float, exempt: tuple[str, ...] = ()) -> None:
        self.app = app
        self.limit = limit
        self.wait = wait
        self.exempt = exempt
        self._semaphores: dict[asyncio.AbstractEventLoop, asyncio.Semaphore] = {}
        self._lock = threading.Lock()  # loops may run in several threads (TestClient portals)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limit <= 0 or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        semaphore = self._semaphore()
        if not await self._acquire(semaphore):
            response = problem(
                503,
                f"the service is at its limit of {self.limit} concurrent requests; retry after 1 s",
                slug="overloaded",
                instance=scope.get("path"),
                headers={"Retry-After": "1"},
            )
            await response(scope, receive, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            semaphore.release()

    def _semaphore(self) -> asyncio.Semaphore:
        """The running loop's semaphore, made on its first request; those of closed loops are forgotten."""
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            with self._lock:
                for closed in [known for known in self._semaphores if known.is_closed()]:
                    del self._semaphores[closed]
                semaphore = self._semaphores.setdefault(loop, asyncio.Semaphore(self.limit))
        return semaphore

    async def _acquire(self, semaphore: asyncio.Semaphore) -> bool:
        """Take a slot, waiting at most `wait` s; False if none came free."""
        if not semaphore.locked():
            await semaphore.acquire()  # a free slot: acquire does not suspend
            return True
        if self.wait <= 0:
            return False
        try:
            async with asyncio.timeout(self.wait):
                await semaphore.acquire()
        except TimeoutError:
            return False
        return True


class _Body:
    """The request's messages for the app; `drain` reads the rest of the body early, so that the app still
    gets all of it once the server, having sent the 504, would only answer http.disconnect."""

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._lock = asyncio.Lock()  # one reader at a time: the app, or drain
        self._read: deque[Message] = deque()
        self._complete = False  # the last body message (or a disconnect) has come
        self._drained = False

    async def __call__(self) -> Message:
        async with self._lock:
            if self._read:
                return self._read.popleft()
            if self._drained:
                return {"type": "http.disconnect"}  # what a server says once its response is complete
            return self._note(await self._receive())

    def _note(self, message: Message) -> Message:
        if message["type"] != "http.request" or not message.get("more_body", False):
            self._complete = True
        return message

    async def drain(self) -> None:
        """Read and keep the rest of the body before the app's exchange with the server ends."""
        if not self._complete:
            async with self._lock:
                while not self._complete:
                    self._read.append(self._note(await self._receive()))
        self._drained = True


class _Exchange:
    """One request under a deadline: notes when the response starts, and discards what the app sends once the
    504 has gone in its place."""

    def __init__(self, receive: Receive, send: Send) -> None:
        self.body = _Body(receive)
        self._send = send
        self._started = asyncio.Event()
        self._detached = False

    async def send(self, message: Message) -> None:
        if self._detached:
            return
        if message["type"] == "http.response.start":
            self._started.set()
        await self._send(message)

    async def timed_out(self, task: asyncio.Task[None], seconds: float) -> bool:
        """Wait until the response starts or the app ends, at most `seconds`; True (detached) if neither."""
        started = asyncio.ensure_future(self._started.wait())
        try:
            await asyncio.wait((task, started), timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            started.cancel()
        if self._started.is_set() or task.done():
            return False
        await self.body.drain()
        if self._started.is_set() or task.done():  # the app answered while the body came in
            return False
        self._detached = True
        return True


async def _run(app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
    """The app's call as a coroutine, for a task of its own that the deadline does not cancel."""
    await app(scope, receive, send)


def _log_failure(task: asyncio.Task[None]) -> None:
    """Retrieve the exception of an app abandoned on cancellation, so that it is logged once, by us."""
    if not task.cancelled() and (error := task.exception()) is not None:
        _log.error("request failed while being cancelled", exc_info=error)


class RequestTimeout:
    """A request whose response has not started within `seconds` gets 504; the app is never cancelled for it.

    Cancelling could cut a write in half, so the app runs on to completion and whatever it sends later is
    discarded; the client retries with the same Idempotency-Key and gets the write's result. The rest of the
    request body is read before the 504 goes, so the app still receives all of it. A response that started in
    time streams through untouched, however long it takes; `exempt` paths (streamed uploads) and
    `seconds <= 0` are not limited.

    Shutdown: the ASGI call returns only when the app has finished. The server has the complete 504 (uvicorn
    serves the connection's next request at once) yet still counts the request as running, so a graceful
    shutdown waits for such writes before the lifespan closes the database, up to uvicorn's
    --timeout-graceful-shutdown; past it the server cancels them as it cancels any request still running.
    A failure after the 504 is logged, not raised: the client already has its answer.
    """

    def __init__(self, app: ASGIApp, seconds: float, exempt: tuple[str, ...] = ()) -> None:
        self.app = app
        self.seconds = seconds
        self.exempt = exempt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.seconds <= 0 or scope.get("path") in self.exempt:
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(receive, send)
        task = asyncio.create_task(_run(self.app, scope, exchange.body, exchange.send))
        try:
            timed_out = await exchange.timed_out(task, self.seconds)
        except asyncio.CancelledError:
            task.cancel()  # the server gives up on the request: it goes as it would without this middleware
            task.add_done_callback(_log_failure)
            raise
        if not timed_out:
            await task
            return
        try:
            response = problem(
                504,
                f"the request took longer than {_seconds(self.seconds)} s; a write still completes: "
                "retry with the same Idempotency-Key to get its result",
                slug="timeout",
                instance=scope.get("path"),
            )
            await response(scope, exchange.body, send)
        finally:
            await _outlive(task, scope)


async def _outlive(task: asyncio.Task[None], scope: Scope) -> None:
    """Wait for an app that timed out, logging its failure: the client has its 504, nothing is re-raised."""
    try:
        await task
    except Exception:
        _log.exception("%s %s failed after its 504", scope.get("method"), scope.get("path"))
