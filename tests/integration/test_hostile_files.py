"""Loan files built to exhaust the reader: each is refused up front or becomes a bad row with its line,
within a memory bound. Every bomb is built here at run time; none is committed."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from carbon.adapters import loan_parquet
from carbon.adapters.loan_files import read_loan_chunks
from carbon.adapters.text_lines import MAX_LINE_BYTES
from carbon.core.columnar import Rejected
from carbon.errors import RequestError

ROWS = 1 << 20
PEAK_LIMIT_MB = 300
HEADER = "loan_id,disbursed_on,channel,product,region\n"


def _read(path: Path, fmt: str) -> tuple[int, int, list[Rejected]]:
    """Rows read, rows counted good, and the bad rows."""
    rows = good = 0
    rejected: list[Rejected] = []
    for chunk in read_loan_chunks(path, fmt, chunk_rows=1000):  # type: ignore[arg-type]
        rows += chunk.rows
        good += len(chunk.loan_ids)
        rejected += chunk.rejected
    return rows, good, rejected


def _peak_rss_mb(path: Path, fmt: str) -> tuple[int, str]:
    """Read a file in a fresh process: its peak RSS in MB and how the read ended. The read runs in a child
    forked from a small interpreter and is measured by wait4's rusage: getrusage(RUSAGE_SELF) after exec
    would report this test process's own peak, which the kernel carries over exec."""
    script = textwrap.dedent(f"""
        import os, sys
        from pathlib import Path
        from carbon.adapters.loan_files import read_loan_chunks
        from carbon.errors import RequestError
        pid = os.fork()
        if pid == 0:
            try:
                rows = sum(chunk.rows for chunk in read_loan_chunks(Path({str(path)!r}), {fmt!r}))
                print(f"read {{rows}} rows", flush=True)
            except RequestError as error:
                print(f"refused: {{error}}", flush=True)
            os._exit(0)
        _, status, usage = os.wait4(pid, 0)
        print(usage.ru_maxrss // 1024)
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=True
    )
    outcome, peak = done.stdout.strip().splitlines()
    return int(peak), outcome


def _dictionary_bomb(path: Path, *, arrow_schema: bool) -> None:
    """1,048,576 rows sharing one 2,000-character loan id, zstd: about 220 KB on disk, 2 GB decoded."""
    table = pa.table(
        {
            "loan_id": pa.DictionaryArray.from_arrays(
                pa.array([0] * ROWS, pa.int32()), pa.array(["x" * 2000])
            ),
            "disbursed_on": pa.array(["2021-06-30"] * ROWS),
            "channel": pa.array(["online"] * ROWS),
        }
    )
    pq.write_table(table, path, compression="zstd", store_schema=arrow_schema)


@pytest.mark.parametrize("arrow_schema", [True, False], ids=["arrow-schema", "parquet-only"])
def test_a_dictionary_bomb_is_refused_before_expansion_within_300_mb(
    tmp_path: Path, arrow_schema: bool
) -> None:
    path = tmp_path / "bomb.parquet"
    _dictionary_bomb(path, arrow_schema=arrow_schema)
    assert path.stat().st_size < 400_000
    peak, outcome = _peak_rss_mb(path, "parquet")
    assert outcome.startswith("refused: bomb.parquet: loan_id values longer than 128 bytes"), outcome
    assert peak < PEAK_LIMIT_MB, f"peak RSS {peak} MB"


@pytest.mark.parametrize("arrow_schema", [True, False], ids=["arrow-schema", "parquet-only"])
def test_a_few_long_dictionary_ids_are_bad_rows_not_a_refused_file(
    tmp_path: Path, arrow_schema: bool
) -> None:
    ids = pa.array(["ok-1", "y" * 300, "ok-2", "y" * 300]).dictionary_encode()
    table = pa.table({"loan_id": ids, "disbursed_on": ["2021-06-30"] * 4, "channel": ["online"] * 4})
    pq.write_table(table, tmp_path / "few.parquet", store_schema=arrow_schema)
    rows, good, rejected = _read(tmp_path / "few.parquet", "parquet")
    assert (rows, good) == (4, 2)
    assert [r.where for r in rejected] == ["row 2", "row 4"]
    assert rejected[0].reason.startswith("loan_id must be 1-128 characters")


def test_a_plain_column_chunk_over_its_byte_bound_is_refused_from_the_footer(tmp_path: Path) -> None:
    n = 4096
    table = pa.table(
        {"loan_id": ["z" * 1000] * n, "disbursed_on": ["2021-06-30"] * n, "channel": ["online"] * n}
    )
    pq.write_table(table, tmp_path / "wide.parquet", use_dictionary=False)
    with pytest.raises(
        RequestError, match=r"column loan_id of row group 0 declares [\d,]+ bytes for 4,096 values"
    ):
        _read(tmp_path / "wide.parquet", "parquet")


def test_declared_rows_over_the_limit_are_refused_before_reading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    table = pa.table(
        {"loan_id": ["a", "b", "c"], "disbursed_on": ["2021-06-30"] * 3, "channel": ["online"] * 3}
    )
    pq.write_table(table, tmp_path / "rows.parquet")
    monkeypatch.setattr(loan_parquet, "MAX_FILE_ROWS", 2)
    with pytest.raises(RequestError, match="declares 3 rows, over the limit of 2"):
        _read(tmp_path / "rows.parquet", "parquet")


def test_a_delta_encoded_id_column_is_refused_with_the_reason(tmp_path: Path) -> None:
    table = pa.table({"loan_id": ["a", "b"], "disbursed_on": ["2021-06-30"] * 2, "channel": ["online"] * 2})
    pq.write_table(
        table,
        tmp_path / "delta.parquet",
        use_dictionary=False,
        column_encoding={"loan_id": "DELTA_BYTE_ARRAY"},
    )
    with pytest.raises(RequestError, match="DELTA_BYTE_ARRAY-encoded"):
        _read(tmp_path / "delta.parquet", "parquet")


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_a_64_mb_line_is_a_bad_row_with_its_number_within_300_mb(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"long.{fmt}"
    good = (
        "L1,2021-06-30,online,,CN\n"
        if fmt == "csv"
        else '{"loan_id":"L1","disbursed_on":"2021-06-30","channel":"online"}\n'
    )
    with path.open("w") as out:
        out.write(HEADER if fmt == "csv" else "")
        out.write(good.replace("L1", "L0"))
        out.write("x" * (64 << 20) + "\n")
        out.write(good)
    first = 2 if fmt == "csv" else 1
    rows, counted, rejected = _read(path, fmt)
    assert (rows, counted) == (3, 2)
    assert rejected == [Rejected(f"line {first + 1}", f"line longer than {MAX_LINE_BYTES} bytes")]
    peak, outcome = _peak_rss_mb(path, fmt)
    assert outcome == "read 3 rows"
    assert peak < PEAK_LIMIT_MB, f"peak RSS {peak} MB"


def test_ndjson_nested_ten_million_deep_is_a_bad_row_not_an_internal_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.ndjson"
    good = json.dumps({"loan_id": "L1", "disbursed_on": "2021-06-30", "channel": "online"})
    with path.open("w") as out:
        out.write(good + "\n")
        out.write('{"loan_id":"L2","x":' + "[" * 10_000_000 + "]" * 10_000_000 + "}\n")
        out.write('{"loan_id":"L3","x":' + "[" * 30_000 + "]" * 30_000 + "}\n")  # within the line limit
        out.write("not json\n")  # so the block is read line by line, by Python's json
        out.write(good.replace("L1", "L5") + "\n")
    rows, counted, rejected = _read(path, "ndjson")
    assert (rows, counted) == (5, 2)
    assert [(r.where, r.reason) for r in rejected] == [
        ("line 2", f"line longer than {MAX_LINE_BYTES} bytes"),
        ("line 3", "nested too deeply"),
        ("line 4", "not a JSON object"),
    ]


def test_one_invalid_utf8_byte_rejects_that_csv_row_only(tmp_path: Path) -> None:
    path = tmp_path / "utf8.csv"
    path.write_bytes(
        HEADER.encode()
        + b"L1,2021-06-30,online,micro,CN\n"
        + b"L2,2021-06-30,online,micr\xff,CN\n"
        + b"L3,2021-06-30,online,\xe5\x86\x9c\xe4\xb8\x9a,CN\n"  # valid UTF-8 (Chinese) stays good
    )
    rows, counted, rejected = _read(path, "csv")
    assert (rows, counted) == (3, 2)
    assert rejected == [Rejected("line 3", "not valid UTF-8 text")]


def test_one_invalid_utf8_byte_rejects_that_ndjson_row_only(tmp_path: Path) -> None:
    path = tmp_path / "utf8.ndjson"
    path.write_bytes(
        b'{"loan_id":"L1","disbursed_on":"2021-06-30","channel":"online"}\n'
        b'{"loan_id":"L2","disbursed_on":"2021-06-30","channel":"online","product":"\xff"}\n'
    )
    rows, counted, rejected = _read(path, "ndjson")
    assert (rows, counted) == (2, 1)
    assert rejected == [Rejected("line 2", "not valid UTF-8 text")]


@pytest.mark.parametrize("product", ["x\r=cmd|' /C calc'!A0", "\n=1+1", "tab\there", "a\u2028b", "x" * 65])
def test_a_product_with_a_control_character_is_a_bad_row_like_the_api_refuses_it(
    tmp_path: Path, product: str
) -> None:
    path = tmp_path / "products.ndjson"
    rows = [{"loan_id": f"L{i}", "disbursed_on": "2021-06-30", "channel": "online", "product": p} for i, p in
            enumerate(["micro", product])]  # fmt: skip
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    read, counted, rejected = _read(path, "ndjson")
    assert (read, counted) == (2, 1)
    assert rejected == [
        Rejected("line 2", "product must be at most 64 characters, none of them a control character")
    ]


def test_a_parquet_file_named_as_csv_is_refused_up_front_naming_both(tmp_path: Path) -> None:
    table = pa.table({"loan_id": ["a"], "disbursed_on": ["2021-06-30"], "channel": ["online"]})
    pq.write_table(table, tmp_path / "loans.csv")
    with pytest.raises(
        RequestError, match=r"looks like parquet \(it starts with the Parquet magic bytes PAR1\)"
    ):
        _read(tmp_path / "loans.csv", "csv")
    (tmp_path / "loans.parquet").write_text(HEADER + "a,2021-06-30,online,,\n")
    with pytest.raises(RequestError, match="looks like csv .* but was sent as parquet"):
        _read(tmp_path / "loans.parquet", "parquet")


def test_parquet_text_that_is_not_utf8_is_a_bad_row_not_an_internal_error(tmp_path: Path) -> None:
    products = pa.array([b"micro", b"micr\xff"], pa.binary()).view(pa.string())  # Parquet does not check
    table = pa.table({"loan_id": ["a", "b"], "disbursed_on": ["2021-06-30"] * 2, "channel": ["online"] * 2,
                      "product": products})  # fmt: skip
    pq.write_table(table, tmp_path / "bytes.parquet")
    rows, counted, rejected = _read(tmp_path / "bytes.parquet", "parquet")
    assert (rows, counted) == (2, 1)
    assert [r.where for r in rejected] == ["row 2"]
