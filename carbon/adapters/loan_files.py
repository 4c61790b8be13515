"""Loan files (CSV, NDJSON, Parquet) streamed as columnar chunks, with bad rows located and explained.

A chunk's good rows arrive as arrays (day numbers, channel flags, dictionary-coded regions and products,
the loan ids as an Arrow array); bad rows arrive as (line or row number, reason). Nothing becomes a
Python object per record.

Blocks of a file (whole lines of CSV or NDJSON, or row groups of Parquet) are parsed and validated on a
few threads (Arrow and numpy release the GIL) and yielded in file order, a bounded number ahead. Each
block is parsed single-threaded from its own first line, so bad lines keep their exact line numbers.
Hostile input stays a bad row, not a failed file: a line over the length limit, a line that is not
UTF-8, an NDJSON value nested too deeply. Parquet is checked from its footer first (loan_parquet).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from carbon.adapters.loan_columns import (
    FEW_VALUES,
    OPTIONAL,
    REQUIRED,
    in_order,
    line_of,
    require,
    split,
)
from carbon.adapters.loan_parquet import parquet_chunks
from carbon.adapters.text_lines import (
    MAX_LINE_BYTES,
    Block,
    blank_invalid_utf8,
    first_line,
    line_blocks,
    line_numbers,
    utf8_lines,
)
from carbon.core.columnar import LoanChunk, Rejected
from carbon.core.upload_format import check_file_start
from carbon.errors import RequestError

__all__ = [
    "FileFormat",
    "LoanChunk",
    "Rejected",
    "count_rows",
    "file_checksum",
    "guess_format",
    "read_loan_chunks",
]

FileFormat = Literal["csv", "ndjson", "parquet"]
_BLOCK_BYTES = 8 << 20  # text parsed per task: about 150k CSV rows, 70k NDJSON rows
_TOO_LONG = f"line longer than {MAX_LINE_BYTES} bytes"
_NOT_UTF8 = "not valid UTF-8 text"


def file_checksum(path: Path) -> str:
    """SHA-256 of a file's bytes, read in blocks: the identity of an upload for idempotency."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(8 << 20):
            digest.update(block)
    return digest.hexdigest()


def count_rows(path: Path, fmt: str) -> int:
    """Records in a file, cheaply: Parquet metadata, or the lines of a text file (less the CSV header)."""
    if fmt == "parquet":
        try:
            return int(pq.ParquetFile(path).metadata.num_rows)
        except (pa.ArrowInvalid, OSError) as error:
            raise RequestError(f"cannot read {path.name} as parquet: {_reason(error, path)}") from None
    lines = 0
    last = b"\n"
    try:
        with path.open("rb") as handle:
            while block := handle.read(8 << 20):
                lines += block.count(b"\n")
                last = block[-1:]
    except OSError as error:
        raise RequestError(f"cannot read {path.name}: {_reason(error, path)}") from None
    lines += last != b"\n"
    return max(lines - (fmt == "csv"), 0)


def guess_format(path: Path, given: str | None = None) -> FileFormat:
    """The format named, or the one the file's extension says."""
    name = (given or path.suffix.lstrip(".")).lower()
    aliases: dict[str, FileFormat] = {
        "csv": "csv",
        "ndjson": "ndjson",
        "jsonl": "ndjson",
        "parquet": "parquet",
    }
    if name not in aliases:
        raise RequestError(f"unknown file format {name!r}: give csv, ndjson or parquet")
    return aliases[name]


def read_loan_chunks(path: Path, fmt: FileFormat, chunk_rows: int = 1 << 20) -> Iterator[LoanChunk]:
    """Stream a loan file as validated columnar chunks of at most `chunk_rows` rows, in file order."""
    if not path.is_file():
        raise RequestError(f"no such file: {path.name}")
    with path.open("rb") as handle:
        check_file_start(handle.read(64), fmt, path.name)
    try:
        if fmt == "csv":
            yield from _csv_chunks(path, chunk_rows)
        elif fmt == "ndjson":
            yield from _ndjson_chunks(path, chunk_rows)
        else:
            yield from parquet_chunks(path, chunk_rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as error:
        raise RequestError(f"cannot read {path.name} as {fmt}: {_reason(error, path)}") from None


def _reason(error: Exception, path: Path) -> str:
    """The first line of a reader's error, naming the file without the server's directories (an OSError
    by its message alone)."""
    text = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
    text = (text.splitlines() or [type(error).__name__])[0]
    for directory in {str(path.parent), str(path.resolve().parent)}:
        text = text.replace(directory + os.sep, "")
    return text


# --- readers -----------------------------------------------------------------------------------------


def _csv_chunks(path: Path, chunk_rows: int) -> Iterator[LoanChunk]:
    """CSV: a header row, then one loan per line. Lines with the wrong number of cells are rejected."""
    with path.open("rb") as handle:
        header_line = first_line(handle, path.name).decode("utf-8", errors="replace").strip()
    header = [c.strip() for c in header_line.split(",")] if header_line else []
    require(header, path.name)
    parse = partial(_csv_block, header=header, chunk_rows=chunk_rows)

    def tasks() -> Iterator[Callable[[], tuple[list[LoanChunk], int]]]:
        with path.open("rb") as handle:
            first_line(handle, path.name)
            for block in line_blocks(handle, _block_bytes(chunk_rows, 48)):
                yield partial(parse, block)

    first = 2
    try:
        for chunks, lines in in_order(tasks()):
            yield from _placed(chunks, first)
            first += lines
    except pa.ArrowInvalid as error:  # Arrow counted rows from the block's first line: count from the file's
        shifted = re.sub(r"Row #(\d+)", lambda m: f"Row #{int(m[1]) + first - 1}", str(error))
        raise pa.ArrowInvalid(shifted) from None


def _placed(chunks: list[LoanChunk], first: int) -> list[LoanChunk]:
    """Chunks of a block whose lines were numbered from 1, renumbered from the block's first line."""
    if first != 1:
        for chunk in chunks:
            chunk.rejected = [Rejected(f"line {line_of(r) + first - 1}", r.reason) for r in chunk.rejected]
    return chunks


def _csv_block(block: Block, header: list[str], chunk_rows: int) -> tuple[list[LoanChunk], int]:
    """Parse whole lines on this thread alone, so Arrow's row numbers are exact; locate rows by line
    (numbered from 1 in the block), and count the block's lines. Lines that are not UTF-8 are re-read
    blank and rejected, like any bad row."""
    data = block.data
    unread = [Rejected(f"line {n}", _TOO_LONG) for n in block.long_lines]
    try:
        table, invalid = _csv_table(data, header)
    except pa.ArrowInvalid as error:
        if "UTF8" not in str(error):
            raise
        data, bad = blank_invalid_utf8(data)
        if not bad:
            raise
        unread += [Rejected(f"line {n}", _NOT_UTF8) for n in bad]
        table, invalid = _csv_table(data, header)
    lines = _Lines(data, 1, [number for number, _, _ in invalid], table.num_rows)
    unread += [
        Rejected(f"line {lines.of_nonempty(number)}", f"{actual} cells, expected {expected}")
        for number, actual, expected in invalid
    ]
    unread.sort(key=line_of)
    return split(table, chunk_rows, lines.where, unread, lines.kept), block.lines


def _csv_table(data: memoryview, header: list[str]) -> tuple[pa.Table, list[tuple[int, int, int]]]:
    invalid: list[tuple[int, int, int]] = []

    def on_invalid(row: Any) -> str:
        invalid.append((row.number, row.actual_columns, row.expected_columns))
        return "skip"

    types = dict.fromkeys(header, pa.string())
    types.update(dict.fromkeys(FEW_VALUES, pa.dictionary(pa.int32(), pa.string())))
    table = pa_csv.read_csv(
        pa.BufferReader(data),
        read_options=pa_csv.ReadOptions(column_names=header, use_threads=False),
        parse_options=pa_csv.ParseOptions(invalid_row_handler=on_invalid),
        convert_options=pa_csv.ConvertOptions(
            column_types=types,
            include_columns=[c for c in (*REQUIRED, *OPTIONAL) if c in header],
            strings_can_be_null=False,
        ),
    )
    return table, invalid


class _Lines:
    """Physical line numbers of a block's rows: Arrow skips empty lines and the lines it rejected."""

    def __init__(self, block: memoryview, first: int, skipped: list[int], rows: int) -> None:
        self._block, self._first, self._skipped, self._rows = block, first, skipped, rows
        self._nonempty: npt.NDArray[np.int64] | None = None
        self._kept: npt.NDArray[np.int64] | None = None

    def of_nonempty(self, number: int) -> int:
        """The line of Arrow's row `number` (1-based over the block's non-empty lines)."""
        nonempty = self._lines()
        return int(nonempty[number - 1]) if number <= nonempty.size else self._first + number - 1

    def where(self, indices: npt.NDArray[np.int64], offset: int) -> list[str]:
        kept = self.kept()
        return [f"line {kept[offset + int(i)]}" for i in indices]

    def kept(self) -> npt.NDArray[np.int64]:
        """The line of each row Arrow kept."""
        if self._kept is None:
            kept = np.delete(self._lines(), np.asarray(self._skipped, dtype=np.int64) - 1)
            if kept.size != self._rows:  # lines Arrow read differently (quoted line breaks): best effort
                kept = np.arange(self._first, self._first + self._rows, dtype=np.int64)
            self._kept = kept
        return self._kept

    def _lines(self) -> npt.NDArray[np.int64]:
        if self._nonempty is None:
            self._nonempty = line_numbers(self._block, self._first)
        return self._nonempty


def _block_bytes(chunk_rows: int, bytes_per_row: int) -> int:
    return min(max(chunk_rows * bytes_per_row, 1 << 16), _BLOCK_BYTES)


def _ndjson_chunks(path: Path, chunk_rows: int) -> Iterator[LoanChunk]:
    """NDJSON: one JSON object per line; a block that does not parse is re-read line by line."""
    schema = pa.schema([(c, pa.string()) for c in (*REQUIRED, *OPTIONAL)])
    parse = partial(_ndjson_block, schema=schema, chunk_rows=chunk_rows)

    def tasks() -> Iterator[Callable[[], tuple[list[LoanChunk], int, set[str]]]]:
        with path.open("rb") as handle:
            for block in line_blocks(handle, _block_bytes(chunk_rows, 64)):
                yield partial(parse, block)

    first = 1
    seen_columns: set[str] = set()
    for chunks, lines, columns in in_order(tasks()):
        seen_columns |= columns
        yield from _placed(chunks, first)
        first += lines
    if first > 1 and not seen_columns:
        raise RequestError(f"{path.name}: no line has the fields {', '.join(REQUIRED)}")


def _ndjson_block(block: Block, schema: pa.Schema, chunk_rows: int) -> tuple[list[LoanChunk], int, set[str]]:
    """Parse a block of whole lines (numbered from 1) on this thread; count its lines."""
    options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    data, not_utf8 = utf8_lines(block.data)  # Arrow's JSON reader does not check UTF-8 inside strings
    rejected = [Rejected(f"line {n}", _TOO_LONG) for n in block.long_lines]
    rejected = sorted(rejected + [Rejected(f"line {n}", _NOT_UTF8) for n in not_utf8], key=line_of)
    count = block.lines
    try:
        table = pa_json.read_json(
            pa.BufferReader(data),
            read_options=pa_json.ReadOptions(use_threads=False),
            parse_options=options,
        )
        lines: npt.NDArray[np.int64] | None = None  # no empty line: row i is on line i + 1
        if count != table.num_rows:
            lines = line_numbers(data, 1)
            if lines.size != table.num_rows:
                raise pa.ArrowInvalid("lines and records differ")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        table, bad_lines = _ndjson_slowly(data, 1, schema)
        rejected = sorted(rejected + bad_lines, key=line_of)
        lines = np.asarray(table.column("_line").to_numpy(), dtype=np.int64)
        table = table.drop_columns(["_line"])
    columns = {c for c in REQUIRED if c in table.column_names and table[c].null_count < len(table)}

    def numbers() -> npt.NDArray[np.int64]:
        return np.arange(1, table.num_rows + 1, dtype=np.int64) if lines is None else lines

    def where(indices: npt.NDArray[np.int64], offset: int) -> list[str]:
        found = numbers()
        return [f"line {found[offset + int(i)]}" for i in indices]

    return split(table, chunk_rows, where, rejected, numbers), count, columns


def _ndjson_slowly(block: memoryview, first: int, schema: pa.Schema) -> tuple[pa.Table, list[Rejected]]:
    """Parse a block line by line to say which lines are bad; good lines keep their strings."""
    good: dict[str, list[Any]] = {name: [] for name in [*schema.names, "_line"]}
    rejected: list[Rejected] = []
    for number, raw in enumerate(bytes(block).split(b"\n")[:-1], first):
        if not raw.strip():
            continue
        problem = _json_object(raw)
        if isinstance(problem, str):
            rejected.append(Rejected(f"line {number}", problem))
            continue
        wrong = [k for k in schema.names if k in problem and not isinstance(problem[k], str | None)]
        if wrong:
            rejected.append(Rejected(f"line {number}", f"{wrong[0]} must be a string"))
            continue
        for name in schema.names:
            good[name].append(problem.get(name))
        good["_line"].append(number)
    table = pa.table({n: pa.array(v, pa.int64() if n == "_line" else pa.string()) for n, v in good.items()})
    return table, rejected


def _json_object(raw: bytes) -> dict[str, Any] | str:
    """The line's JSON object, or why it is not one."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return _NOT_UTF8
    try:
        record = json.loads(text)
    except RecursionError:
        return "nested too deeply"
    except ValueError:
        return "not a JSON object"
    return record if isinstance(record, dict) else "not a JSON object"
