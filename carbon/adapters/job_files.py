"""A job's files in the database: its upload and its rejected-rows report, in parts of one mebibyte.

Kept in the database rather than on a disk so that every replica reads them (nothing to share but the
database), on SQLite and PostgreSQL alike; parts keep memory bounded on the way in and out.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from sqlalchemy import Connection, Engine, select

from carbon.adapters.schema import job_files

__all__ = ["PART_BYTES", "REJECTED", "UPLOAD", "read_parts", "write_parts"]

UPLOAD = "upload"
REJECTED = "rejected"
PART_BYTES = 1 << 20


def write_parts(connection: Connection, job_id: str, kind: str, source: IO[bytes]) -> int:
    """Store a file from its start, part by part, in the caller's transaction; the bytes stored."""
    source.seek(0)
    size = 0
    part = 0
    while block := source.read(PART_BYTES):
        connection.execute(job_files.insert().values(job_id=job_id, kind=kind, part=part, data=block))
        size += len(block)
        part += 1
    return size


def read_parts(engine: Engine, job_id: str, kind: str) -> Iterator[bytes]:
    """A stored file's parts in order, one query each (one part in memory at a time)."""
    where = (job_files.c.job_id == job_id, job_files.c.kind == kind)
    with engine.connect() as connection:
        numbers = connection.execute(select(job_files.c.part).where(*where).order_by(job_files.c.part))
        parts = [int(n) for n in numbers.scalars()]
    for number in parts:
        with engine.connect() as connection:
            data = connection.execute(select(job_files.c.data).where(*where, job_files.c.part == number))
            yield bytes(data.scalar_one())
