"""Loan files (CSV, NDJSON, Parquet) streamed as columnar chunks, with bad rows located and explained.

A chunk's good rows arrive as arrays (day numbers, channel flags, dictionary-coded regions and products,
the loan ids as an Arrow array); bad rows arrive as (line or row number, reason). Nothing becomes a
Python object per record.

Blocks of a file (whole lines of CSV or NDJSON, or row groups of Parquet) are parsed and validated on a
few threads (Arrow and numpy release the GIL) and yielded in file order, a bounded number ahead. Each
block is parsed single-threaded from its own first line, so bad lines keep their exact line numbers.
Columns are checked once per distinct value where they have few values (channel, region, product:
dictionary-encoded first), and loan ids by their bytes, not by a regular expression per row.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import string
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from carbon.core.columnar import LoanChunk, Rejected, days_from_iso_bytes
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
REQUIRED = ("loan_id", "disbursed_on", "channel")
OPTIONAL = ("product", "region")
_REGION = re.compile(r"GLOBAL|[A-Z]{2}(-[A-Z0-9]{1,10}){0,2}")
_ID_CHARS = (string.ascii_letters + string.digits + "._:/-").encode()
_ID_FIRST_CHARS = (string.ascii_letters + string.digits).encode()
_ID_FIRST = np.zeros(256, dtype=np.bool_)
_ID_FIRST[list(_ID_FIRST_CHARS)] = True
_ID_ANY = np.zeros(256, dtype=np.bool_)
_ID_ANY[list(_ID_CHARS)] = True
_YEAR_ONE = -719162  # 0001-01-01 in days since 1970-01-01: Arrow's date parser also takes year 0
_BLOCK_BYTES = 8 << 20  # text parsed per task: about 150k CSV rows, 70k NDJSON rows
_TASK_ROWS = 1 << 20  # Parquet rows read per task (whole row groups)
_BIG_ROW_GROUP = 1 << 22  # bigger row groups are streamed in batches instead, to keep memory bounded
_WORKERS = max(1, min(4, os.cpu_count() or 1))
_T = TypeVar("_T")


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
            raise RequestError(f"cannot read {path.name} as parquet: {str(error).splitlines()[0]}") from None
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        while block := handle.read(8 << 20):
            lines += block.count(b"\n")
            last = block[-1:]
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
        raise RequestError(f"no such file: {path}")
    try:
        if fmt == "csv":
            yield from _csv_chunks(path, chunk_rows)
        elif fmt == "ndjson":
            yield from _ndjson_chunks(path, chunk_rows)
        else:
            yield from _parquet_chunks(path, chunk_rows)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as error:
        raise RequestError(f"cannot read {path.name} as {fmt}: {str(error).splitlines()[0]}") from None


# --- readers -----------------------------------------------------------------------------------------


def _in_order(tasks: Iterable[Callable[[], _T]]) -> Iterator[_T]:
    """Run tasks on a few threads, at most one more than the threads ahead, and yield results in order."""
    pending: deque[Future[_T]] = deque()
    with ThreadPoolExecutor(_WORKERS, thread_name_prefix="loan-file") as pool:
        try:
            for task in tasks:
                pending.append(pool.submit(task))
                if len(pending) > _WORKERS:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def _csv_chunks(path: Path, chunk_rows: int) -> Iterator[LoanChunk]:
    """CSV: a header row, then one loan per line. Lines with the wrong number of cells are rejected."""
    header = _csv_header(path)
    _require(header, path.name)
    parse = partial(_csv_block, header=header, chunk_rows=chunk_rows)

    def tasks() -> Iterator[Callable[[], tuple[list[LoanChunk], int]]]:
        with path.open("rb") as handle:
            handle.readline()
            for block in _line_blocks(handle, _block_bytes(chunk_rows, 48)):
                yield partial(parse, block)

    first_line = 2
    try:
        for chunks, lines in _in_order(tasks()):
            yield from _placed(chunks, first_line)
            first_line += lines
    except pa.ArrowInvalid as error:  # Arrow counted rows from the block's first line: count from the file's
        shifted = re.sub(r"Row #(\d+)", lambda m: f"Row #{int(m[1]) + first_line - 1}", str(error))
        raise pa.ArrowInvalid(shifted) from None


def _placed(chunks: list[LoanChunk], first_line: int) -> list[LoanChunk]:
    """Chunks of a block whose lines were numbered from 1, renumbered from the block's first line."""
    if first_line != 1:
        for chunk in chunks:
            chunk.rejected = [
                Rejected(f"line {_line_of(r) + first_line - 1}", r.reason) for r in chunk.rejected
            ]
    return chunks


def _csv_header(path: Path) -> list[str]:
    with path.open("rb") as handle:
        first = handle.readline().decode("utf-8", errors="replace").strip()
    return [c.strip() for c in first.split(",")] if first else []


def _csv_block(block: memoryview, header: list[str], chunk_rows: int) -> tuple[list[LoanChunk], int]:
    """Parse whole lines on this thread alone, so Arrow's row numbers are exact; locate rows by line
    (numbered from 1 in the block), and count the block's lines."""
    invalid: list[Any] = []

    def on_invalid(row: Any) -> str:
        invalid.append((row.number, row.actual_columns, row.expected_columns))
        return "skip"

    types = dict.fromkeys(header, pa.string())
    types.update(dict.fromkeys(_FEW_VALUES, pa.dictionary(pa.int32(), pa.string())))
    table = pa_csv.read_csv(
        pa.BufferReader(block),
        read_options=pa_csv.ReadOptions(column_names=header, use_threads=False),
        parse_options=pa_csv.ParseOptions(invalid_row_handler=on_invalid),
        convert_options=pa_csv.ConvertOptions(
            column_types=types,
            include_columns=[c for c in (*REQUIRED, *OPTIONAL) if c in header],
            strings_can_be_null=False,
        ),
    )
    lines = _Lines(block, 1, [number for number, _, _ in invalid], table.num_rows)
    rejected = [
        Rejected(f"line {lines.of_nonempty(number)}", f"{actual} cells, expected {expected}")
        for number, actual, expected in invalid
    ]
    return _split(table, chunk_rows, lines.where, rejected, lines.kept), _count_lines(block)


class _Lines:
    """Physical line numbers of a block's rows: Arrow skips empty lines and the lines it rejected."""

    def __init__(self, block: memoryview, first_line: int, skipped: list[int], rows: int) -> None:
        self._block, self._first, self._skipped, self._rows = block, first_line, skipped, rows
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
            self._nonempty = _line_numbers(self._block, self._first)
        return self._nonempty


def _split(
    table: pa.Table,
    chunk_rows: int,
    where: Callable[[npt.NDArray[np.int64], int], list[str]],
    unread: list[Rejected],
    row_lines: Callable[[], npt.NDArray[np.int64]] | None,
) -> list[LoanChunk]:
    """Validate a block's rows in chunks of at most chunk_rows; lines that could not be read as a row
    (`unread`, at 'line N') join the chunk they fall in, in line order, and count as its rows."""
    table = table.combine_chunks()
    step = max(chunk_rows, 1)
    chunks = []
    for offset in range(0, table.num_rows, step):
        part = table.slice(offset, step)
        chunks.append(_validate(part, lambda indices, offset=offset: where(indices, offset)))
    if not unread or row_lines is None:
        return chunks
    chunks = chunks or [_empty_chunk([])]
    before = np.searchsorted(row_lines(), [_line_of(item) for item in unread])
    for item, rows_before in zip(unread, before.tolist(), strict=True):
        chunk = chunks[min(rows_before // step, len(chunks) - 1)]
        chunk.rejected.append(item)
        chunk.rows += 1
    for chunk in chunks:
        chunk.rejected.sort(key=_line_of)
    return chunks


def _line_of(item: Rejected) -> int:
    return int(item.where.rsplit(" ", 1)[-1])


def _block_bytes(chunk_rows: int, bytes_per_row: int) -> int:
    return min(max(chunk_rows * bytes_per_row, 1 << 16), _BLOCK_BYTES)


def _ndjson_chunks(path: Path, chunk_rows: int) -> Iterator[LoanChunk]:
    """NDJSON: one JSON object per line; a block that does not parse is re-read line by line."""
    schema = pa.schema([(c, pa.string()) for c in (*REQUIRED, *OPTIONAL)])
    parse = partial(_ndjson_block, schema=schema, chunk_rows=chunk_rows)

    def tasks() -> Iterator[Callable[[], tuple[list[LoanChunk], int, set[str]]]]:
        with path.open("rb") as handle:
            for block in _line_blocks(handle, _block_bytes(chunk_rows, 64)):
                yield partial(parse, block)

    first_line = 1
    seen_columns: set[str] = set()
    for chunks, lines, columns in _in_order(tasks()):
        seen_columns |= columns
        yield from _placed(chunks, first_line)
        first_line += lines
    if first_line > 1 and not seen_columns:
        raise RequestError(f"{path.name}: no line has the fields {', '.join(REQUIRED)}")


def _ndjson_block(
    block: memoryview, schema: pa.Schema, chunk_rows: int
) -> tuple[list[LoanChunk], int, set[str]]:
    """Parse a block of whole lines (numbered from 1) on this thread; count its lines."""
    options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    rejected: list[Rejected] = []
    count = _count_lines(block)
    try:
        table = pa_json.read_json(
            pa.BufferReader(block), read_options=pa_json.ReadOptions(use_threads=False), parse_options=options
        )
        lines: npt.NDArray[np.int64] | None = None  # no empty line: row i is on line i + 1
        if count != table.num_rows:
            lines = _line_numbers(block, 1)
            if lines.size != table.num_rows:
                raise pa.ArrowInvalid("lines and records differ")
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        table, rejected = _ndjson_slowly(block, 1, schema)
        lines = np.asarray(table.column("_line").to_numpy(), dtype=np.int64)
        table = table.drop_columns(["_line"])
    columns = {c for c in REQUIRED if c in table.column_names and table[c].null_count < len(table)}

    def line_numbers() -> npt.NDArray[np.int64]:
        return np.arange(1, table.num_rows + 1, dtype=np.int64) if lines is None else lines

    def where(indices: npt.NDArray[np.int64], offset: int) -> list[str]:
        numbers = line_numbers()
        return [f"line {numbers[offset + int(i)]}" for i in indices]

    return _split(table, chunk_rows, where, rejected, line_numbers), count, columns


def _line_blocks(handle: IO[bytes], size: int) -> Iterator[memoryview]:
    """Blocks of whole lines, not copied: a block ends at its last line break, the rest is read again."""
    while chunk := handle.read(size):
        cut = chunk.rfind(b"\n") + 1
        while not cut and (more := handle.read(size)):  # a line longer than a block
            chunk += more
            cut = chunk.rfind(b"\n") + 1
        if not cut:  # the last line has no line break
            if chunk.strip():
                yield memoryview(chunk + b"\n")
            return
        if cut < len(chunk):
            handle.seek(cut - len(chunk), os.SEEK_CUR)
        yield memoryview(chunk)[:cut]


def _count_lines(block: memoryview) -> int:
    """Line breaks in a block (numpy: several times faster than bytes.count, and without the GIL)."""
    return int(np.count_nonzero(np.frombuffer(block, dtype=np.uint8) == 10))


def _line_numbers(block: memoryview, first_line: int) -> npt.NDArray[np.int64]:
    """The line number of each non-empty line of a block (the readers skip empty lines)."""
    data = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(data == 10)
    starts = np.concatenate(([0], ends[:-1] + 1)) if ends.size else ends
    length = ends - starts
    empty = (length == 0) | ((length == 1) & (data[np.minimum(starts, data.size - 1)] == 13))
    numbers = np.arange(first_line, first_line + ends.size, dtype=np.int64)
    kept: npt.NDArray[np.int64] = numbers[~empty]
    return kept


def _ndjson_slowly(block: memoryview, first_line: int, schema: pa.Schema) -> tuple[pa.Table, list[Rejected]]:
    """Parse a block line by line to say which lines are bad; good lines keep their strings."""
    good: dict[str, list[Any]] = {name: [] for name in [*schema.names, "_line"]}
    rejected: list[Rejected] = []
    for number, raw in enumerate(bytes(block).split(b"\n")[:-1], first_line):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            rejected.append(Rejected(f"line {number}", "not a JSON object"))
            continue
        if not isinstance(record, dict):
            rejected.append(Rejected(f"line {number}", "not a JSON object"))
            continue
        wrong = [k for k in schema.names if k in record and not isinstance(record[k], str | None)]
        if wrong:
            rejected.append(Rejected(f"line {number}", f"{wrong[0]} must be a string"))
            continue
        for name in schema.names:
            good[name].append(record.get(name))
        good["_line"].append(number)
    table = pa.table({n: pa.array(v, pa.int64() if n == "_line" else pa.string()) for n, v in good.items()})
    return table, rejected


def _parquet_chunks(path: Path, chunk_rows: int) -> Iterator[LoanChunk]:
    """Parquet: columns by name; rows are numbered from 1. Row groups are read a few at a time."""
    file = pq.ParquetFile(path)
    names = file.schema_arrow.names
    _require(names, path.name)
    columns = [c for c in (*REQUIRED, *OPTIONAL) if c in names]
    as_dictionary = [
        c
        for c in ("channel", *OPTIONAL)
        if c in names and pa.types.is_string(file.schema_arrow.field(c).type)
    ]
    metadata = file.metadata
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    if max(sizes, default=0) > _BIG_ROW_GROUP:
        file.close()
        file = pq.ParquetFile(path, read_dictionary=as_dictionary)
        row = 0
        for batch in file.iter_batches(batch_size=chunk_rows, columns=columns):
            yield _validate(batch, lambda idx, first=row: [f"row {first + int(i) + 1}" for i in idx])
            row += batch.num_rows
        return
    file.close()

    def read(groups: list[int], first_row: int) -> list[LoanChunk]:
        reader = pq.ParquetFile(path, metadata=metadata, read_dictionary=as_dictionary)
        try:
            table = reader.read_row_groups(groups, columns=columns, use_threads=False)
        finally:
            reader.close()

        def where(indices: npt.NDArray[np.int64], offset: int) -> list[str]:
            return [f"row {first_row + offset + int(i) + 1}" for i in indices]

        return _split(table, chunk_rows, where, [], None)

    def tasks() -> Iterator[Callable[[], list[LoanChunk]]]:
        groups: list[int] = []
        first_row = rows = 0
        for index, size in enumerate(sizes):
            if groups and rows + size > max(chunk_rows, _TASK_ROWS):
                yield partial(read, groups, first_row)
                groups, first_row, rows = [], first_row + rows, 0
            groups.append(index)
            rows += size
        if groups:
            yield partial(read, groups, first_row)

    for chunks in _in_order(tasks()):
        yield from chunks


def _require(columns: list[str], name: str) -> None:
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise RequestError(f"{name}: missing column(s) {', '.join(missing)}")


# --- validation --------------------------------------------------------------------------------------

_FEW_VALUES = ("channel", "product", "region")  # read as dictionaries: checked once per value
_REASON_ORDER = ("loan_id", "disbursed_on", "channel", "region", "product")


def _validate(batch: pa.RecordBatch | pa.Table, where: Any) -> LoanChunk:
    """Check every column at once; rows failing any check are rejected with the first reason."""
    n = batch.num_rows
    ids = _string_column(batch, "loan_id", n)
    days, date_ok = _days(batch, n)
    online, branch = _channel(batch)
    region, region_names = _dictionary(batch, "region", n, empty_is_null=True)
    product, product_names = _dictionary(batch, "product", n, empty_is_null=True)
    reasons = {
        "loan_id": _bad_ids(ids),
        "disbursed_on": ~date_ok,
        "channel": ~(online | branch),
        "region": _flags(region, [v is not None and _REGION.fullmatch(v) is None for v in region_names]),
        "product": _flags(product, [v is not None and len(v) > 64 for v in product_names]),
    }
    bad = np.logical_or.reduce(list(reasons.values())) if n else np.zeros(0, dtype=np.bool_)
    if not bad.any():
        return LoanChunk(n, ids, days, online, region, region_names, product, product_names, [])
    keep = ~bad
    return LoanChunk(
        rows=n,
        loan_ids=ids.filter(pa.array(keep)),
        days=days[keep],
        online=online[keep],
        regions=region[keep],
        region_names=region_names,
        products=product[keep],
        product_names=product_names,
        rejected=_explain(bad, reasons, where),
    )


_MESSAGES = {
    "loan_id": "loan_id must be 1-128 characters of letters, digits and ._:/-",
    "disbursed_on": "disbursed_on must be a date YYYY-MM-DD",
    "channel": "channel must be online or branch",
    "region": "region must be GLOBAL or an ISO 3166 code like CN or CN-HE",
    "product": "product must be at most 64 characters",
}


def _explain(
    bad: npt.NDArray[np.bool_], reasons: dict[str, npt.NDArray[np.bool_]], where: Any
) -> list[Rejected]:
    """Locate each bad row and give the first rule it breaks."""
    indices = np.flatnonzero(bad)
    if not indices.size:
        return []
    places = where(indices)
    out = []
    for index, place in zip(indices, places, strict=True):
        column = next(c for c in _REASON_ORDER if reasons[c][index])
        out.append(Rejected(place, _MESSAGES[column]))
    return out


def _flags(codes: npt.NDArray[np.int32], by_code: list[bool]) -> npt.NDArray[np.bool_]:
    """A per-row flag from a per-value one: a comparison when one value is flagged, else a lookup."""
    flagged = [code for code, flag in enumerate(by_code) if flag]
    if not flagged:
        return np.zeros(codes.size, dtype=np.bool_)
    if len(flagged) == len(by_code):
        return np.ones(codes.size, dtype=np.bool_)
    if len(flagged) == 1:
        return np.equal(codes, flagged[0])
    table: npt.NDArray[np.bool_] = np.asarray(by_code, dtype=np.bool_)[codes]
    return table


def _channel(batch: pa.RecordBatch | pa.Table) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Which rows say online and which branch (a missing channel is neither)."""
    n = batch.num_rows
    column = _column(batch, "channel") if "channel" in batch.schema.names else pa.nulls(n, pa.string())
    if pa.types.is_dictionary(column.type):
        codes, names = _dictionary(batch, "channel", n, empty_is_null=False)
        return _flags(codes, [v == "online" for v in names]), _flags(codes, [v == "branch" for v in names])
    text = column if pa.types.is_string(column.type) else pc.cast(column, pa.string())

    def equals(value: str) -> npt.NDArray[np.bool_]:
        flags = pc.fill_null(pc.equal(text, value), False).to_numpy(zero_copy_only=False)
        return np.asarray(flags, dtype=np.bool_)

    return equals("online"), equals("branch")


def _column(batch: pa.RecordBatch | pa.Table, name: str) -> pa.Array:
    column = batch.column(name)
    if isinstance(column, pa.ChunkedArray):
        column = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column


def _string_column(batch: pa.RecordBatch | pa.Table, name: str, n: int) -> pa.Array:
    if name not in batch.schema.names:
        return pa.nulls(n, pa.string())
    column = _column(batch, name)
    return column if pa.types.is_string(column.type) else pc.cast(column, pa.string())


def _dictionary(
    batch: pa.RecordBatch | pa.Table, name: str, n: int, *, empty_is_null: bool
) -> tuple[npt.NDArray[np.int32], list[str | None]]:
    """Codes and the value of each code (None for a missing value; '' too for optional columns)."""
    if name not in batch.schema.names:
        return np.zeros(n, dtype=np.int32), [None]
    column = _column(batch, name)
    if not pa.types.is_dictionary(column.type):
        if not pa.types.is_string(column.type):
            column = pc.cast(column, pa.string())
        column = pc.dictionary_encode(column)
    values = column.dictionary
    names: list[str | None] = (
        values if pa.types.is_string(values.type) else pc.cast(values, pa.string())
    ).to_pylist()
    if empty_is_null:
        names = [None if value == "" else value for value in names]
    indices = column.indices
    if indices.null_count:
        indices = pc.fill_null(indices, len(names))
        names.append(None)
    return np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int32), names


def _offsets(text: pa.Array) -> npt.NDArray[np.int32]:
    return np.frombuffer(text.buffers()[1], dtype=np.int32, count=len(text) + 1, offset=4 * text.offset)


def _bad_ids(ids: pa.Array) -> npt.NDArray[np.bool_]:
    """Ids that are not 1-128 characters of [A-Za-z0-9._:/-] starting with a letter or digit.

    The check reads the bytes of all ids at once (bytes.translate over the whole column, then over the
    first bytes); rows are located only when some byte is refused. Any non-ASCII byte is refused, as the
    pattern refuses any non-ASCII character.
    """
    n = len(ids)
    if not n:
        return np.zeros(0, dtype=np.bool_)
    offsets = _offsets(ids)
    lengths = np.diff(offsets)
    if int(lengths.min()) >= 1 and int(lengths.max()) <= 128:
        bad = np.zeros(n, dtype=np.bool_)
    else:
        bad = (lengths < 1) | (lengths > 128)
    if ids.null_count:
        bad |= ~np.asarray(ids.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
    start, stop = int(offsets[0]), int(offsets[-1])
    if stop == start:
        return bad
    data = ids.buffers()[2]
    values = np.frombuffer(data, dtype=np.uint8, count=stop - start, offset=start)
    firsts = values[np.minimum(offsets[:-1] - start, values.size - 1)]
    if firsts.tobytes().translate(None, _ID_FIRST_CHARS):
        bad |= ~_ID_FIRST[firsts]
    if bytes(memoryview(data)[start:stop]).translate(None, _ID_CHARS):
        wrong = np.flatnonzero(~_ID_ANY[values])
        bad[np.searchsorted(offsets[1:] - start, wrong, side="right")] = True
    return bad


def _days(batch: pa.RecordBatch | pa.Table, n: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.bool_]]:
    """Day numbers from date32 columns directly, from 'YYYY-MM-DD' strings by their bytes."""
    column = _column(batch, "disbursed_on")
    if pa.types.is_date32(column.type):
        numbers = column.cast(pa.int32())
        if not numbers.null_count:
            return numbers.to_numpy(), np.ones(n, dtype=np.bool_)
        valid = np.asarray(pc.is_valid(numbers).to_numpy(zero_copy_only=False), dtype=np.bool_)
        return np.asarray(pc.fill_null(numbers, 0).to_numpy(), dtype=np.int32), valid
    text = _string_column(batch, "disbursed_on", n)
    if not n:
        return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.bool_)
    fixed = np.diff(_offsets(text)) == 10
    if text.null_count:
        fixed &= np.asarray(text.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
    if fixed.all():
        return _iso_days(text)
    days, valid = np.zeros(n, dtype=np.int32), np.zeros(n, dtype=np.bool_)
    if fixed.any():  # values of another length are bad rows; the others are read as above
        days[fixed], valid[fixed] = _iso_days(text.filter(pa.array(fixed)))
    return days, valid


def _iso_days(text: pa.Array) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.bool_]]:
    """Strings of exactly ten bytes, no nulls: Arrow's parser refuses what days_from_iso_bytes refuses,
    but for year 0, so it reads the column at once, and the bytes are checked one by one only if it fails."""
    try:
        days = np.asarray(pc.cast(text, pa.date32()).cast(pa.int32()).to_numpy(), dtype=np.int32)
    except pa.ArrowInvalid:
        n = len(text)
        start = int(_offsets(text)[0])
        data = np.frombuffer(text.buffers()[2], dtype=np.uint8, count=10 * n, offset=start)
        return days_from_iso_bytes(data.reshape(n, 10))
    return days, days >= _YEAR_ONE


def _empty_chunk(rejected: list[Rejected]) -> LoanChunk:
    empty = np.zeros(0, dtype=np.int32)
    return LoanChunk(
        0, pa.array([], pa.string()), empty, np.zeros(0, np.bool_), empty, [], empty, [], rejected
    )
