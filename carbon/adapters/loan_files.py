"""Loan files (CSV, NDJSON, Parquet) streamed as columnar chunks, with bad rows located and explained.

A chunk's good rows arrive as arrays (day numbers, channel flags, dictionary-coded regions and products,
the loan ids as an Arrow array); bad rows arrive as (line or row number, reason). Nothing becomes a
Python object per record.
"""

from __future__ import annotations

import hashlib
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

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
_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$"
_REGION_PATTERN = r"^(GLOBAL|[A-Z]{2}(-[A-Z0-9]{1,10}){0,2})$"
_NDJSON_BLOCK = 8 << 20


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
    """Stream a loan file as validated columnar chunks."""
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


def _csv_chunks(path: Path, chunk_rows: int) -> Iterator[LoanChunk]:
    """CSV: a header row, then one loan per line. Lines with the wrong number of cells are rejected."""
    invalid: list[Rejected] = []
    lock = threading.Lock()

    def on_invalid(row: Any) -> str:
        with lock:
            invalid.append(
                Rejected(f"line {row.number}", f"{row.actual_columns} cells, expected {row.expected_columns}")
            )
        return "skip"

    header = _csv_header(path)
    _require(header, path.name)
    columns = [c for c in (*REQUIRED, *OPTIONAL) if c in header]
    reader = pa_csv.open_csv(
        path,
        read_options=pa_csv.ReadOptions(block_size=max(1 << 16, chunk_rows * 48), use_threads=False),
        parse_options=pa_csv.ParseOptions(invalid_row_handler=on_invalid),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict.fromkeys(header, pa.string()),
            include_columns=columns,
            strings_can_be_null=False,
        ),
    )
    skipped: list[int] = []
    row = 0
    for batch in reader:
        with lock:
            new_invalid, invalid[:] = list(invalid), []
        skipped.extend(int(r.where.split()[1]) for r in new_invalid)

        def where(indices: npt.NDArray[np.int64], first: int = row) -> list[str]:
            return [f"line {_physical_line(first + int(i), skipped)}" for i in indices]

        chunk = _validate(batch, where)
        chunk.rejected[:0] = new_invalid
        chunk.rejected.sort(key=lambda r: int(r.where.split()[1]))
        chunk.rows += len(new_invalid)
        row += batch.num_rows
        yield chunk


def _csv_header(path: Path) -> list[str]:
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        first = handle.readline().strip()
    return [c.strip() for c in first.split(",")] if first else []


def _physical_line(row: int, skipped: list[int]) -> int:
    """Line of the row-th good row: data starts on line 2, and skipped lines push rows down."""
    line = row + 2
    for bad in sorted(skipped):
        if bad <= line:
            line += 1
    return line


def _ndjson_chunks(path: Path, chunk_rows: int) -> Iterator[LoanChunk]:
    """NDJSON: one JSON object per line; a block that does not parse is re-read line by line."""
    schema = pa.schema([(c, pa.string()) for c in (*REQUIRED, *OPTIONAL)])
    options = pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    first_line = 1
    seen_columns: set[str] = set()
    for block in _line_blocks(path, max(_NDJSON_BLOCK, chunk_rows * 64)):
        lines = block.count(b"\n")
        try:
            table = pa_json.read_json(io.BytesIO(block), parse_options=options)
            table = table.append_column("_line", pa.array(_line_numbers(block, first_line), pa.int64()))
            rejected: list[Rejected] = []
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            table, rejected = _ndjson_slowly(block, first_line, schema)
        seen_columns.update(
            c for c in REQUIRED if c in table.column_names and table[c].null_count < len(table)
        )
        for batch in table.to_batches(max_chunksize=chunk_rows):
            lines_of = batch.column("_line").to_numpy()
            chunk = _validate(batch, lambda idx, lines_of=lines_of: [f"line {lines_of[i]}" for i in idx])
            chunk.rejected[:0], rejected = rejected, []
            yield chunk
        if rejected:
            yield _empty_chunk(rejected)
        first_line += lines
    if first_line > 1 and not seen_columns:
        raise RequestError(f"{path.name}: no line has the fields {', '.join(REQUIRED)}")


def _line_blocks(path: Path, size: int) -> Iterator[bytes]:
    """Blocks of whole lines."""
    rest = b""
    with path.open("rb") as handle:
        while chunk := handle.read(size):
            data = rest + chunk
            cut = data.rfind(b"\n") + 1
            if cut:
                rest = data[cut:]
                yield data[:cut]
            else:
                rest = data
    if rest.strip():
        yield rest + b"\n"


def _line_numbers(block: bytes, first_line: int) -> npt.NDArray[np.int64]:
    """The line number of each non-empty line of a block (read_json skips empty lines)."""
    data = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(data == 10)
    starts = np.concatenate(([0], ends[:-1] + 1)) if ends.size else ends
    length = ends - starts
    empty = (length == 0) | ((length == 1) & (data[np.minimum(starts, data.size - 1)] == 13))
    numbers = np.arange(first_line, first_line + ends.size, dtype=np.int64)
    kept: npt.NDArray[np.int64] = numbers[~empty]
    return kept


def _ndjson_slowly(block: bytes, first_line: int, schema: pa.Schema) -> tuple[pa.Table, list[Rejected]]:
    """Parse a block line by line to say which lines are bad; good lines keep their strings."""
    good: dict[str, list[Any]] = {name: [] for name in [*schema.names, "_line"]}
    rejected: list[Rejected] = []
    for number, raw in enumerate(block.split(b"\n")[:-1], first_line):
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
    """Parquet: columns by name; rows are numbered from 1."""
    file = pq.ParquetFile(path)
    names = file.schema_arrow.names
    _require(names, path.name)
    columns = [c for c in (*REQUIRED, *OPTIONAL) if c in names]
    row = 0
    for batch in file.iter_batches(batch_size=chunk_rows, columns=columns):
        chunk = _validate(batch, lambda idx, first=row: [f"row {first + int(i) + 1}" for i in idx])
        row += batch.num_rows
        yield chunk


def _require(columns: list[str], name: str) -> None:
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise RequestError(f"{name}: missing column(s) {', '.join(missing)}")


# --- validation --------------------------------------------------------------------------------------

_REASON_ORDER = ("loan_id", "disbursed_on", "channel", "region", "product")


def _validate(batch: pa.RecordBatch | pa.Table, where: Any) -> LoanChunk:
    """Check every column at once; rows failing any check are rejected with the first reason."""
    n = batch.num_rows
    reasons: dict[str, npt.NDArray[np.bool_]] = {}
    ids = _string_column(batch, "loan_id", n)
    reasons["loan_id"] = _mask(pc.invert(pc.match_substring_regex(ids, _ID_PATTERN)))
    days, date_ok = _days(batch, n)
    reasons["disbursed_on"] = ~date_ok
    channel = _string_column(batch, "channel", n)
    online = _mask(pc.equal(channel, "online"))
    reasons["channel"] = ~(online | _mask(pc.equal(channel, "branch")))
    region = _optional_column(batch, "region", n)
    reasons["region"] = _mask(
        pc.fill_null(pc.invert(pc.match_substring_regex(region, _REGION_PATTERN)), False)
    )
    product = _optional_column(batch, "product", n)
    reasons["product"] = _mask(pc.fill_null(pc.greater(pc.utf8_length(product), 64), False))
    bad = np.zeros(n, dtype=np.bool_)
    for mask in reasons.values():
        bad |= mask
    rejected = _explain(bad, reasons, where)
    keep = ~bad
    region_codes, region_names = _codes(region.filter(pa.array(keep)))
    product_codes, product_names = _codes(product.filter(pa.array(keep)))
    return LoanChunk(
        rows=n,
        loan_ids=ids.filter(pa.array(keep)),
        days=days[keep],
        online=online[keep],
        regions=region_codes,
        region_names=region_names,
        products=product_codes,
        product_names=product_names,
        rejected=rejected,
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


def _mask(array: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.bool_]:
    """A boolean array as numpy, nulls counted as True (a null fails the check that produced it)."""
    filled = pc.fill_null(array, True)
    if isinstance(filled, pa.ChunkedArray):
        filled = filled.combine_chunks()
    return np.asarray(filled.to_numpy(zero_copy_only=False), dtype=np.bool_)


def _string_column(batch: pa.RecordBatch | pa.Table, name: str, n: int) -> pa.Array:
    if name not in batch.schema.names:
        return pa.nulls(n, pa.string())
    column = batch.column(name)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    return column if pa.types.is_string(column.type) else pc.cast(column, pa.string())


def _optional_column(batch: pa.RecordBatch | pa.Table, name: str, n: int) -> pa.Array:
    column = _string_column(batch, name, n)
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)


def _days(batch: pa.RecordBatch | pa.Table, n: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.bool_]]:
    """Day numbers from date32 columns directly, from strings through their bytes when fixed-width."""
    column = batch.column("disbursed_on")
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    if pa.types.is_date32(column.type):
        valid = np.asarray(pc.is_valid(column).to_numpy(zero_copy_only=False), dtype=np.bool_)
        return np.asarray(pc.fill_null(column.cast(pa.int32()), 0).to_numpy(), dtype=np.int32), valid
    text = _string_column(batch, "disbursed_on", n)
    fixed = np.asarray(
        pc.fill_null(pc.equal(pc.binary_length(text), 10), False).to_numpy(zero_copy_only=False),
        dtype=np.bool_,
    )
    if n and text.null_count == 0 and fixed.all():
        data = np.frombuffer(text.buffers()[2], dtype=np.uint8)
        start = int(np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset])
        return days_from_iso_bytes(data[start : start + 10 * n].reshape(n, 10))
    # some values are not 10 characters: those are bad rows; the rest go through Arrow's strptime
    parsed = pc.strptime(text, format="%Y-%m-%d", unit="s", error_is_null=True)
    days = pc.fill_null(pc.cast(pc.cast(parsed, pa.date32()), pa.int32()), 0).to_numpy(zero_copy_only=False)
    ok = np.asarray(pc.is_valid(parsed).to_numpy(zero_copy_only=False), dtype=np.bool_) & fixed
    return np.asarray(days, dtype=np.int32), ok


def _codes(column: pa.Array) -> tuple[npt.NDArray[np.int32], list[str | None]]:
    """Dictionary-encode a small-cardinality column; null gets its own code."""
    encoded = pc.dictionary_encode(column, null_encoding="encode")
    names: list[str | None] = encoded.dictionary.to_pylist()
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    return np.asarray(indices, dtype=np.int32), names


def _empty_chunk(rejected: list[Rejected]) -> LoanChunk:
    empty = np.zeros(0, dtype=np.int32)
    return LoanChunk(
        0, pa.array([], pa.string()), empty, np.zeros(0, np.bool_), empty, [], empty, [], rejected
    )
