"""Parquet loan files: checked from their footer before any page is decoded, then read row groups at a
time on a few threads.

A Parquet file says how many rows it holds and how many bytes each column chunk takes once decompressed,
but a dictionary-encoded string column can still expand far past that: one 2,000-character loan id
repeated a million times is 2 GB of strings from a 200 KB file. So the footer is held to limits first
(rows per file, bytes per value of each column chunk, encodings whose decoded size cannot be bounded),
and where an id or date column is dictionary-encoded its dictionary pages are looked at first: if one
holds a value over the column's limit, the column is read as a dictionary and bounded before decoding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from carbon.adapters.loan_columns import (
    FEW_VALUES,
    MAX_BYTES,
    OPTIONAL,
    REQUIRED,
    in_order,
    require,
    split,
    validate,
)
from carbon.core.columnar import LoanChunk
from carbon.errors import RequestError

__all__ = ["MAX_FILE_ROWS", "MAX_VALUE_BYTES", "check_footer", "parquet_chunks"]

MAX_FILE_ROWS = 1_000_000_000  # rows a file may declare: the largest year so far is 283 million loans
MAX_VALUE_BYTES = (
    256  # decompressed bytes per value of a column chunk (ids are at most 128, products 64 chars)
)
_CHUNK_SLACK = 1 << 20  # page headers, a dictionary page and statistics on top of the values
_TASK_ROWS = 1 << 20  # rows read per task (whole row groups)
_BIG_ROW_GROUP = 1 << 22  # bigger row groups are streamed in batches instead, to keep memory bounded
_EXPANDING = {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}  # values stored once, referenced per row
_UNBOUNDED = {"DELTA_BYTE_ARRAY"}  # prefixes shared with the previous value: no bound from the page size


def check_footer(metadata: pq.FileMetaData, name: str) -> dict[str, list[int]]:
    """Refuse a file whose footer declares more than the limits allow; name the id and date string columns
    that are dictionary-encoded, with the row groups where they are (their dictionaries are looked at)."""
    if metadata.num_rows > MAX_FILE_ROWS:
        raise RequestError(
            f"{name}: declares {metadata.num_rows:,} rows, over the limit of {MAX_FILE_ROWS:,}"
        )
    groups = [metadata.row_group(i) for i in range(metadata.num_row_groups)]
    if sum(group.num_rows for group in groups) != metadata.num_rows or any(g.num_rows < 0 for g in groups):
        raise RequestError(
            f"{name}: its row groups do not add up to the {metadata.num_rows:,} rows it declares"
        )
    wanted = set(REQUIRED) | set(OPTIONAL)
    dictionary_encoded: dict[str, list[int]] = {}
    for index, group in enumerate(groups):
        for position in range(group.num_columns):
            column = group.column(position)
            column_name = column.path_in_schema
            if column_name not in wanted:
                continue
            size, values = column.total_uncompressed_size, max(column.num_values, group.num_rows)
            if size > values * MAX_VALUE_BYTES + _CHUNK_SLACK:
                raise RequestError(
                    f"{name}: column {column_name} of row group {index} declares {size:,} bytes for "
                    f"{values:,} values, over {MAX_VALUE_BYTES} bytes a value"
                )
            encodings = set(column.encodings)
            if column.physical_type == "BYTE_ARRAY" and encodings & _UNBOUNDED:
                raise RequestError(
                    f"{name}: column {column_name} is DELTA_BYTE_ARRAY-encoded, whose decoded size cannot be "
                    "bounded before decoding; write it PLAIN or dictionary-encoded"
                )
            if column.physical_type == "BYTE_ARRAY" and encodings & _EXPANDING and column_name in MAX_BYTES:
                dictionary_encoded.setdefault(column_name, []).append(index)
    return dictionary_encoded


def parquet_chunks(path: Path, chunk_rows: int) -> Iterator[LoanChunk]:
    """Parquet: columns by name; rows are numbered from 1. Row groups are read a few at a time."""
    with pq.ParquetFile(path) as file:
        schema = file.schema_arrow
        metadata = file.metadata
    names = schema.names
    require(names, path.name)
    columns = [c for c in (*REQUIRED, *OPTIONAL) if c in names]
    encoded = {c: groups for c, groups in check_footer(metadata, path.name).items() if c in columns}
    as_dictionary = _as_dictionary(schema, columns, _long_dictionaries(path, metadata, encoded))
    sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
    if max(sizes, default=0) > _BIG_ROW_GROUP:
        yield from _batches(path, metadata, as_dictionary, columns, chunk_rows)
        return

    def read(groups: list[int], first_row: int) -> list[LoanChunk]:
        with pq.ParquetFile(path, metadata=metadata, read_dictionary=as_dictionary) as reader:
            table = reader.read_row_groups(groups, columns=columns, use_threads=False)

        def where(indices: npt.NDArray[np.int64], offset: int) -> list[str]:
            return [f"row {first_row + offset + int(i) + 1}" for i in indices]

        try:
            return split(table, chunk_rows, where, [], None)
        except RequestError as error:
            raise RequestError(f"{path.name}: {error}") from None

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

    for chunks in in_order(tasks()):
        yield from chunks


def _long_dictionaries(path: Path, metadata: pq.FileMetaData, encoded: dict[str, list[int]]) -> set[str]:
    """The columns whose dictionary page, in some row group, holds a value longer than the column allows.

    Only the dictionary page and one row are decoded. Where every dictionary value is within bounds, the
    column is read as plain strings (fast: no hashing of the pages that fell back to plain encoding), and
    its decoded size is at most rows x the bound, plus the plain pages the footer already bounded."""
    if not encoded:
        return set()
    found: set[str] = set()
    with pq.ParquetFile(path, metadata=metadata, read_dictionary=list(encoded)) as file:
        for column, groups in encoded.items():
            for group in groups:
                batches = file.iter_batches(
                    batch_size=1, row_groups=[group], columns=[column], use_threads=False
                )
                values = next(batches, None)
                if values is None or not pa.types.is_dictionary(values.column(0).type):
                    continue
                longest = pc.max(pc.binary_length(values.column(0).dictionary)).as_py() or 0
                if longest > MAX_BYTES[column]:
                    found.add(column)
                    break
    return found


def _as_dictionary(schema: pa.Schema, columns: list[str], expanding: set[str]) -> list[str]:
    """Columns to read as dictionaries: the few-valued ones, and strings dictionary-encoded in the file."""
    return [
        c
        for c in columns
        if (c in FEW_VALUES and pa.types.is_string(schema.field(c).type))
        or (c in expanding and not pa.types.is_dictionary(schema.field(c).type))
    ]


def _batches(
    path: Path, metadata: pq.FileMetaData, as_dictionary: list[str], columns: list[str], chunk_rows: int
) -> Iterator[LoanChunk]:
    """Row groups too big to read whole, streamed batch by batch."""
    with pq.ParquetFile(path, metadata=metadata, read_dictionary=as_dictionary) as file:
        row = 0
        for batch in file.iter_batches(batch_size=chunk_rows, columns=columns):
            yield validate(batch, lambda idx, first=row: [f"row {first + int(i) + 1}" for i in idx])
            row += batch.num_rows
