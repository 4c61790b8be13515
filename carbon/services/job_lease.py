"""A running job's lease, renewed from a thread: other replicas see it alive, and its progress.

If a renewal finds the lease gone (this runner stalled past its expiry and another took the job over),
`lost` is set and the runner stops at its next step; its settle would be refused anyway.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from types import TracebackType

from carbon.core.jobs import LeaseLostError
from carbon.services.ports import JobStore

__all__ = ["Lease"]

_log = logging.getLogger("carbon.jobs")


class Lease:
    """Renews one job's lease every third of its length while the `with` block runs."""

    def __init__(
        self, jobs: JobStore, job_id: str, owner: str, seconds: float, rows: Callable[[], int]
    ) -> None:
        self._jobs = jobs
        self._job_id = job_id
        self._owner = owner
        self._seconds = seconds
        self._rows = rows
        self.rows_total: int | None = None
        self._lost = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name=f"carbon-lease-{job_id}", daemon=True)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def check(self) -> None:
        """Raise LeaseLostError if another runner has taken the job over."""
        if self._lost.is_set():
            raise LeaseLostError(f"job {self._job_id} was taken over by another runner")

    def renew(self) -> None:
        """Renew now (after a long step, with the row count), noting a lost lease."""
        try:
            held = self._jobs.renew(self._job_id, self._owner, self._seconds,
                                    rows_processed=self._rows(), rows_total=self.rows_total)  # fmt: skip
        except Exception as error:  # a busy or unreachable database: try again at the next beat
            _log.warning("job %s: lease not renewed (%s)", self._job_id, type(error).__name__)
            return
        if not held:
            self._lost.set()

    def _beat(self) -> None:
        while not self._stop.wait(self._seconds / 3) and not self._lost.is_set():
            self.renew()
