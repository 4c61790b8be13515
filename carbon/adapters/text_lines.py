"""Blocks of whole lines from a text file, with every line held to a length and to UTF-8.

A loan is a short line; a line of hundreds of megabytes is an attack or a broken export, and reading it
whole costs memory and seconds. A line longer than MAX_LINE_BYTES is skipped as it is read (never held)
and comes out blank, with its number, so the reader rejects it as a bad row and every other line keeps
its number. Lines that are not valid UTF-8 are blanked the same way on request.
"""

from __future__ import annotations

import codecs
import os
from collections.abc import Iterator
from typing import IO, NamedTuple

import numpy as np
import numpy.typing as npt

from carbon.errors import RequestError

__all__ = [
    "MAX_LINE_BYTES",
    "Block",
    "blank_invalid_utf8",
    "first_line",
    "line_blocks",
    "line_numbers",
    "utf8_lines",
]

MAX_LINE_BYTES = 64 << 10
_SEGMENT = MAX_LINE_BYTES // 2  # a line break in every segment of this size means no line is too long
_SKIP_READ = 1 << 20


class Block(NamedTuple):
    """Whole lines (numbered from 1 within the block), how many, and which were blanked for being long."""

    data: memoryview
    lines: int
    long_lines: list[int]


def first_line(handle: IO[bytes], name: str) -> bytes:
    """The first line (a CSV header), refused if it is longer than MAX_LINE_BYTES."""
    line = handle.readline(MAX_LINE_BYTES + 1)
    if len(line) > MAX_LINE_BYTES:
        raise RequestError(f"{name}: the first line is longer than {MAX_LINE_BYTES} bytes")
    return line


def line_blocks(handle: IO[bytes], size: int) -> Iterator[Block]:
    """Blocks of whole lines, not copied unless a line is blanked: a block ends at its last line break, the
    rest is read again. Memory stays within `size` plus MAX_LINE_BYTES whatever the file holds."""
    while chunk := handle.read(size):
        cut = chunk.rfind(b"\n") + 1
        while not cut and len(chunk) <= MAX_LINE_BYTES and (more := handle.read(size)):
            chunk += more
            cut = chunk.rfind(b"\n") + 1
        if not cut and len(chunk) > MAX_LINE_BYTES:  # the start of an overlong line: skip the rest of it
            _skip_line(handle)
            yield Block(memoryview(b"\n"), 1, [1])
            continue
        if not cut:  # the last line has no line break
            if chunk.strip():
                yield _bounded(memoryview(chunk + b"\n"))
            return
        if cut < len(chunk):
            handle.seek(cut - len(chunk), os.SEEK_CUR)
        yield _bounded(memoryview(chunk)[:cut])


def _skip_line(handle: IO[bytes]) -> None:
    """Read past the next line break (or to the end), keeping nothing."""
    while chunk := handle.read(_SKIP_READ):
        found = chunk.find(b"\n")
        if found >= 0:
            handle.seek(found + 1 - len(chunk), os.SEEK_CUR)
            return


def _bounded(block: memoryview) -> Block:
    """Count the lines; blank those over MAX_LINE_BYTES (checked cheaply first: a break in every segment)."""
    breaks = np.frombuffer(block, dtype=np.uint8) == 10
    count = int(np.count_nonzero(breaks))
    whole = breaks.size // _SEGMENT * _SEGMENT
    if breaks[:whole].reshape(-1, _SEGMENT).any(axis=1).all():
        return Block(block, count, [])
    ends = np.flatnonzero(breaks)
    starts = np.concatenate(([0], ends[:-1] + 1))
    long = np.flatnonzero(ends - starts > MAX_LINE_BYTES)
    if not long.size:
        return Block(block, count, [])
    pieces, at = [], 0
    for index in long.tolist():
        pieces.append(block[at : int(starts[index])])
        at = int(ends[index])
    pieces.append(block[at:])
    return Block(memoryview(b"".join(pieces)), count, [index + 1 for index in long.tolist()])


def utf8_lines(block: memoryview) -> tuple[memoryview, list[int]]:
    """The block as is when it is valid UTF-8 (checked only if some byte is not ASCII), else with each line
    that is not made empty, and those lines (numbered from 1)."""
    if not np.any(np.frombuffer(block, dtype=np.uint8) >= 0x80):
        return block, []
    try:
        codecs.utf_8_decode(block, "strict", True)
    except UnicodeDecodeError:
        return blank_invalid_utf8(block)
    return block, []


def blank_invalid_utf8(block: memoryview) -> tuple[memoryview, list[int]]:
    """The block with each line that is not valid UTF-8 made empty, and those lines (numbered from 1)."""
    lines = bytes(block).split(b"\n")
    bad = []
    for index, line in enumerate(lines):
        if not line.isascii():
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                bad.append(index + 1)
                lines[index] = b""
    return memoryview(b"\n".join(lines)), bad


def line_numbers(block: memoryview, first: int) -> npt.NDArray[np.int64]:
    """The line number of each non-empty line of a block (the readers skip empty lines)."""
    data = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(data == 10)
    starts = np.concatenate(([0], ends[:-1] + 1)) if ends.size else ends
    length = ends - starts
    empty = (length == 0) | ((length == 1) & (data[np.minimum(starts, data.size - 1)] == 13))
    numbers = np.arange(first, first + ends.size, dtype=np.int64)
    kept: npt.NDArray[np.int64] = numbers[~empty]
    return kept
