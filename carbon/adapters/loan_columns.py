"""What the loan readers share: validating a block's columns at once, splitting it into chunks, and
running blocks on a few threads in file order.

Columns are checked once per distinct value where they have few values (channel, region, product:
dictionary-encoded first), and loan ids by their bytes, not by a regular expression per row. Strings that
arrive dictionary-encoded (as Parquet may send loan ids) are bounded before they are decoded: a value
longer than its column allows is replaced by an empty one, which the row's check then rejects, so a long
value repeated a million times is never expanded.
"""

from __future__ import annotations

import os
import re
import string
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from carbon.core.columnar import LoanChunk, Rejected, days_from_iso_bytes
from carbon.core.text import PRODUCT_MAX_LENGTH, is_plain_text
from carbon.errors import RequestError

__all__ = [
    "FEW_VALUES",
    "MAX_BYTES",
    "OPTIONAL",
    "REQUIRED",
    "WORKERS",
    "empty_chunk",
    "in_order",
    "line_of",
    "require",
    "split",
    "validate",
]

REQUIRED = ("loan_id", "disbursed_on", "channel")
OPTIONAL = ("product", "region", "customer_ref")
MAX_ID_BYTES = 128
CUSTOMER_REF_MAX_LENGTH = 128  # characters; up to 4 bytes each in UTF-8
MAX_BYTES = {"loan_id": MAX_ID_BYTES, "disbursed_on": 10, "customer_ref": 4 * CUSTOMER_REF_MAX_LENGTH}
_CONTROL_RE2 = r"[\x00-\x1f\x7f-\x{9f}\x{2028}\x{2029}]"  # core.text's rule, in RE2's syntax
EXPANSION_BUDGET = 16 << 20  # bytes the over-long values of a dictionary column may take once decoded
_REGION = re.compile(r"GLOBAL|[A-Z]{2}(-[A-Z0-9]{1,10}){0,2}")
_ID_CHARS = (string.ascii_letters + string.digits + "._:/-").encode()
_ID_FIRST_CHARS = (string.ascii_letters + string.digits).encode()
_ID_FIRST = np.zeros(256, dtype=np.bool_)
_ID_FIRST[list(_ID_FIRST_CHARS)] = True
_ID_ANY = np.zeros(256, dtype=np.bool_)
_ID_ANY[list(_ID_CHARS)] = True
_YEAR_ONE = -719162  # 0001-01-01 in days since 1970-01-01: Arrow's date parser also takes year 0
WORKERS = max(1, min(4, os.cpu_count() or 1))
_T = TypeVar("_T")


def in_order(tasks: Iterable[Callable[[], _T]]) -> Iterator[_T]:
    """Run tasks on a few threads, at most one more than the threads ahead, and yield results in order."""
    pending: deque[Future[_T]] = deque()
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="loan-file") as pool:
        try:
            for task in tasks:
                pending.append(pool.submit(task))
                if len(pending) > WORKERS:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


def split(
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
        chunks.append(validate(part, lambda indices, offset=offset: where(indices, offset)))
    if not unread or row_lines is None:
        return chunks
    chunks = chunks or [empty_chunk([])]
    before = np.searchsorted(row_lines(), [line_of(item) for item in unread])
    for item, rows_before in zip(unread, before.tolist(), strict=True):
        chunk = chunks[min(rows_before // step, len(chunks) - 1)]
        chunk.rejected.append(item)
        chunk.rows += 1
    for chunk in chunks:
        chunk.rejected.sort(key=line_of)
    return chunks


def line_of(item: Rejected) -> int:
    return int(item.where.rsplit(" ", 1)[-1])


def require(columns: list[str], name: str) -> None:
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise RequestError(f"{name}: missing column(s) {', '.join(missing)}")


# --- validation --------------------------------------------------------------------------------------

FEW_VALUES = ("channel", "product", "region")  # read as dictionaries: checked once per value
_REASON_ORDER = ("loan_id", "disbursed_on", "channel", "region", "product", "customer_ref")


def validate(batch: pa.RecordBatch | pa.Table, where: Any) -> LoanChunk:
    """Check every column at once; rows failing any check are rejected with the first reason."""
    n = batch.num_rows
    ids = _string_column(batch, "loan_id", n)
    days, date_ok = _days(batch, n)
    online, branch = _channel(batch)
    region, region_names = _dictionary(batch, "region", n, empty_is_null=True)
    product, product_names = _dictionary(batch, "product", n, empty_is_null=True)
    customers = _customers(batch, n)
    reasons = {
        "loan_id": _bad_ids(ids),
        "disbursed_on": ~date_ok,
        "channel": ~(online | branch),
        "region": _flags(region, [v is not None and _REGION.fullmatch(v) is None for v in region_names]),
        "product": _flags(
            product, [v is not None and not is_plain_text(v, PRODUCT_MAX_LENGTH) for v in product_names]
        ),
        "customer_ref": _bad_customers(customers, n),
    }
    bad = np.logical_or.reduce(list(reasons.values())) if n else np.zeros(0, dtype=np.bool_)
    if not bad.any():
        return LoanChunk(n, ids, days, online, region, region_names, product, product_names, [], customers)
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
        customers=None if customers is None else customers.filter(pa.array(keep)),
    )


_MESSAGES = {
    "loan_id": "loan_id must be 1-128 characters of letters, digits and ._:/-",
    "disbursed_on": "disbursed_on must be a date YYYY-MM-DD",
    "channel": "channel must be online or branch",
    "region": "region must be GLOBAL or an ISO 3166 code like CN or CN-HE",
    "product": f"product must be at most {PRODUCT_MAX_LENGTH} characters, none of them a control character",
    "customer_ref": f"customer_ref must be at most {CUSTOMER_REF_MAX_LENGTH} characters, none of them a "
    "control character",
}


def _customers(batch: pa.RecordBatch | pa.Table, n: int) -> pa.Array | None:
    """The customer_ref column as strings, an empty value as none; None when the file has no such column."""
    if "customer_ref" not in batch.schema.names:
        return None
    column = _string_column(batch, "customer_ref", n)
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)


def _bad_customers(customers: pa.Array | None, n: int) -> npt.NDArray[np.bool_]:
    """References longer than 128 characters or holding a control character (checked by Arrow, per column;
    an over-long dictionary value was emptied before decoding and is refused here by its length 0)."""
    if customers is None:
        return np.zeros(n, dtype=np.bool_)
    bad = pc.or_(pc.greater(pc.utf8_length(customers), CUSTOMER_REF_MAX_LENGTH),
                 pc.match_substring_regex(customers, _CONTROL_RE2))  # fmt: skip
    return np.asarray(pc.fill_null(bad, False).to_numpy(zero_copy_only=False), dtype=np.bool_)


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
    column = batch.column(name)
    if pa.types.is_dictionary(column.type):
        parts = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
        bounded = [_bounded(part, name) for part in parts]
        column = bounded[0] if len(bounded) == 1 else pa.concat_arrays(bounded)
    elif isinstance(column, pa.ChunkedArray):
        column = column.chunk(0) if column.num_chunks == 1 else column.combine_chunks()
    return column if pa.types.is_string(column.type) else pc.cast(column, pa.string())


def _bounded(column: pa.DictionaryArray, name: str) -> pa.Array:
    """Decode a dictionary-encoded string column with every value over its limit made empty first, so the
    row is still rejected by its check and no long value is copied once per row. A file whose long values
    would take more than EXPANSION_BUDGET bytes once decoded is refused whole: a bomb, not bad rows."""
    values, limit = column.dictionary, MAX_BYTES[name]
    if not pa.types.is_string(values.type):
        values = pc.cast(values, pa.string())
    if len(values):
        lengths = pc.binary_length(values).to_numpy(zero_copy_only=False)
        too_long = lengths > limit
        if too_long.any():
            codes = np.asarray(pc.fill_null(column.indices, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
            uses = np.bincount(codes, minlength=len(values))
            expanded = int((uses[too_long] * lengths[too_long]).sum())
            if expanded > EXPANSION_BUDGET:
                raise RequestError(
                    f"{name} values longer than {limit} bytes would take {expanded:,} bytes once decoded, "
                    f"over {EXPANSION_BUDGET:,}: the file is refused before they are expanded"
                )
            values = pc.if_else(pa.array(too_long), "", values)
    return pc.take(values, column.indices)


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
    names = _texts(values if pa.types.is_string(values.type) else pc.cast(values, pa.string()))
    if empty_is_null:
        names = [None if value == "" else value for value in names]
    indices = column.indices
    if indices.null_count:
        indices = pc.fill_null(indices, len(names))
        names.append(None)
    return np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.int32), names


def _texts(values: pa.Array) -> list[str | None]:
    """The values as Python strings; one that is not UTF-8 (Arrow's JSON and Parquet readers do not check)
    becomes a NUL character, which every column's check refuses."""
    try:
        texts: list[str | None] = values.to_pylist()
    except UnicodeDecodeError:
        raw: list[bytes | None] = values.cast(pa.binary()).to_pylist()
        texts = [
            None if v is None else v.decode("utf-8", errors="replace").replace("\ufffd", "\x00") for v in raw
        ]
    return texts


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


def empty_chunk(rejected: list[Rejected]) -> LoanChunk:
    empty = np.zeros(0, dtype=np.int32)
    return LoanChunk(
        0, pa.array([], pa.string()), empty, np.zeros(0, np.bool_), empty, [], empty, [], rejected
    )
