"""When to retry, and how long to wait: shared by the sync and async clients."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from carbon.client.errors import URN, retry_after_seconds

__all__ = ["Attempts", "RetryPolicy"]

RETRYABLE_TRANSPORT = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and full jitter.

    Retried: connection errors, dropped connections and timeouts; 429 and 409 `request-in-flight` (after
    Retry-After when given); 5xx. Never retried: any other 4xx. The wait before retry n (1-based) is a random
    time up to `backoff * 2**(n-1)`, at most `max_backoff`; a Retry-After above that is honoured. No more
    than `max_attempts` attempts, and no wait that would end after `total_timeout` seconds from the first.
    """

    max_attempts: int = 5
    backoff: float = 0.2
    max_backoff: float = 10.0
    total_timeout: float = 60.0
    jitter: Callable[[float, float], float] = field(default=random.uniform, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.backoff < 0 or self.max_backoff < 0 or self.total_timeout <= 0:
            raise ValueError("backoff, max_backoff and total_timeout must not be negative")

    def backoff_for(self, retry: int) -> float:
        """The jittered wait before retry number `retry` (1 for the first retry)."""
        ceiling = min(self.max_backoff, self.backoff * 2 ** (retry - 1))
        return max(0.0, self.jitter(0.0, ceiling))


NO_RETRY = RetryPolicy(max_attempts=1)


def retryable_status(response: httpx.Response) -> bool:
    """429, 409 request-in-flight and 5xx may succeed if sent again; other statuses will not."""
    status = response.status_code
    if status == 429 or status >= 500:
        return True
    if status == 409:
        try:
            return bool(response.json().get("type") == URN + "request-in-flight")
        except (ValueError, AttributeError):
            return False
    return False


class Attempts:
    """The retry state of one logical request: count attempts and decide the wait before the next one."""

    def __init__(
        self, policy: RetryPolicy, enabled: bool, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy
        self.enabled = enabled
        self.clock = clock
        self.started = clock()
        self.count = 0

    def start(self) -> None:
        self.count += 1

    def wait_after_response(self, response: httpx.Response) -> float | None:
        """Seconds to wait before sending again, or None to give up with this response."""
        if not retryable_status(response):
            return None
        return self._wait(retry_after_seconds(response))

    def wait_after_error(self, error: Exception) -> float | None:
        """Seconds to wait after a transport error, or None to give up."""
        if not isinstance(error, RETRYABLE_TRANSPORT):
            return None
        return self._wait(None)

    def _wait(self, retry_after: float | None) -> float | None:
        if not self.enabled or self.count >= self.policy.max_attempts:
            return None
        wait = self.policy.backoff_for(self.count)
        if retry_after is not None:
            wait = max(wait, retry_after)
        if self.clock() - self.started + wait > self.policy.total_timeout:
            return None
        return wait
