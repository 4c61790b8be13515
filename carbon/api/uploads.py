"""A job upload's way in: checked against the size limit, the tenant's quota and the free disk space before
it is read, spooled to an unnamed file while it arrives (a killed process leaves nothing), then stored with
its job in one transaction (a partial upload is never visible)."""

from __future__ import annotations

import errno
import hashlib
import shutil
from pathlib import Path
from typing import IO

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from carbon.core.jobs import JobLimits
from carbon.core.upload_format import SNIFF_BYTES, check_file_start
from carbon.errors import InsufficientStorageError, PayloadTooLargeError, RequestError
from carbon.settings import Settings

__all__ = ["check_free_space", "declared_length", "job_limits", "receive"]

_FLUSH = 1 << 20  # bytes gathered before a write to the spool file (in a worker thread, not the event loop)
_SPACE_EVERY = 16 << 20  # bytes received between two looks at the free space


def job_limits(settings: Settings) -> JobLimits:
    """The per-upload and per-tenant limits from the settings."""
    return JobLimits(settings.max_upload_bytes, settings.upload_quota_bytes, settings.max_jobs_per_tenant)


def declared_length(request: Request) -> int | None:
    """The Content-Length the client sent, if any and well-formed."""
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


def check_free_space(directory: Path, size: int, reserve: int) -> None:
    """507 unless the disk keeps `reserve` bytes free after holding the upload twice (spooled on arrival
    and stored in a SQLite database on the same disk, or unpacked again while its job runs)."""
    free = shutil.disk_usage(directory).free
    if free - 2 * size < reserve:
        raise InsufficientStorageError(
            f"not enough free disk space to take an upload of {size} bytes now; retry later or send less"
        )


async def receive(
    request: Request, out: IO[bytes], fmt: str, limit: int, directory: Path, reserve: int
) -> tuple[str, int]:
    """Stream the body into `out`, refusing it past `limit` bytes, when the disk fills, or as soon as its
    first bytes say another format than `fmt`; its SHA-256 and size."""
    digest = hashlib.sha256()
    size = 0
    head = b""
    pending = bytearray()
    checked = 0
    try:
        async for block in request.stream():
            if len(head) < SNIFF_BYTES:
                head += block[: SNIFF_BYTES - len(head)]
                if len(head) >= SNIFF_BYTES:
                    check_file_start(head, fmt, "the upload")
            size += len(block)
            if size > limit:
                raise PayloadTooLargeError(f"upload larger than {limit} bytes")
            digest.update(block)
            pending += block
            if len(pending) >= _FLUSH:
                await run_in_threadpool(out.write, bytes(pending))
                pending.clear()
            if size - checked >= _SPACE_EVERY:
                checked = size
                await run_in_threadpool(check_free_space, directory, 0, reserve)
        await run_in_threadpool(out.write, bytes(pending))
        await run_in_threadpool(out.flush)
    except OSError as error:
        if error.errno == errno.ENOSPC:
            raise InsufficientStorageError("the disk filled while the upload arrived; retry later") from None
        raise
    if size == 0:
        raise RequestError("the upload is empty")
    check_file_start(head, fmt, "the upload")
    return digest.hexdigest(), size
