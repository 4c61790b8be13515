"""A process's own scratch directory for files in transit: an upload arriving, a job's file while it runs.

Each process holds an exclusive lock (flock) on its directory's lock file for as long as it lives; the
kernel drops the lock when the process dies, even by SIGKILL. At start-up every directory whose lock can be
taken belongs to a dead process and is removed, so nothing a killed process was writing stays behind, and
a directory of a live process sharing the data directory is never touched.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import IO

from carbon.adapters.job_files import REJECTED, UPLOAD
from carbon.adapters.job_store import SqlJobs
from carbon.core.jobs import FINAL_STATES

__all__ = ["WorkDir", "adopt_legacy_job_files"]

_log = logging.getLogger("carbon.jobs")
_LOCK = "owner.lock"


class WorkDir:
    """`<root>/<process id>-<random>/`, locked while this process lives; orphans swept when opened."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.path = root / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._lock: IO[bytes] | None = None

    def open(self) -> WorkDir:
        """Create and lock this process's directory, then remove the directories of dead processes."""
        building = self.root / f".{self.path.name}"  # locked before it gets a name a sweeper looks at
        building.mkdir(parents=True, mode=0o700)
        self._lock = (building / _LOCK).open("wb")
        fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        building.rename(self.path)
        removed = sum(_sweep(other) for other in self.root.iterdir() if other != self.path)
        if removed:
            _log.info("removed %d files left by stopped processes", removed)
        return self

    def close(self) -> None:
        """Remove this process's directory (a clean stop leaves nothing either)."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def spool(self) -> IO[bytes]:
        """An unnamed temporary file here (O_TMPFILE where the kernel has it): gone with its last handle,
        so a process killed mid-upload leaves no partial file anywhere."""
        return tempfile.TemporaryFile(dir=self.path)

    def file(self, name: str) -> Path:
        """A named file of this process (readers that need a path); swept if the process dies."""
        return self.path / name


def _sweep(directory: Path) -> int:
    """Remove a work directory whose owner is gone; the number of files removed (0 if it is alive)."""
    if directory.name.startswith(".") or not directory.is_dir():
        return 0
    try:
        with (directory / _LOCK).open("rb") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            count = sum(1 for path in directory.rglob("*") if path.is_file()) - 1
            shutil.rmtree(directory, ignore_errors=True)
            return max(count, 0)
    except BlockingIOError:
        return 0  # a live process holds it
    except FileNotFoundError:
        return 0  # another process swept it first


def adopt_legacy_job_files(directory: Path, jobs: SqlJobs) -> int:
    """Move files an older version kept in `<data_dir>/jobs` into the database (the upload of an unfinished
    job, the report of a finished one) and delete every file there, orphans included; the number deleted."""
    if not directory.is_dir():
        return 0
    deleted = 0
    for path in sorted(directory.iterdir()):
        if not path.is_file():
            continue
        job_id, _, rest = path.name.partition(".")
        job = jobs.find(job_id) if job_id.startswith("j_") else None
        kind = REJECTED if rest == "rejected.csv" else UPLOAD
        if job is not None and (job.state in FINAL_STATES) == (kind == REJECTED):
            with path.open("rb") as source:
                jobs.store_file(job_id, kind, source)
        path.unlink(missing_ok=True)
        deleted += 1
    return deleted
