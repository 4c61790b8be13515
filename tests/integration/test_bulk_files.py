"""Loan files: exact totals equal to the per-batch path, any chunk size, bad rows located, duplicates once."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbon.adapters.loan_files import guess_format, read_loan_chunks
from carbon.adapters.migrate import upgrade
from carbon.adapters.sql_store import SqlLedger, create_ledger_engine
from carbon.core.columnar import LoanChunk
from carbon.errors import FactorError, RequestError
from carbon.registry import FactorRegistry
from carbon.services.bulk import calculate_loan_chunks
from carbon.services.ledger import record_loan_batch
from carbon.services.ledger_inputs import LoanBatchInput, LoanInput, WriteContext

PER_LOAN_MG = 34_800
COLUMNS = ("loan_id", "disbursed_on", "channel", "product", "region")


def synthetic_loans(n: int, seed: int = 7) -> list[dict[str, str]]:
    rng = random.Random(seed)
    start = date(2021, 1, 1)
    return [
        {
            "loan_id": f"L{i:07d}",
            "disbursed_on": (start + timedelta(days=rng.randrange(365))).isoformat(),
            "channel": "online" if rng.random() < 0.9 else "branch",
            "product": rng.choice(["micro", "farm", "consumer", ""]),
            "region": rng.choice(["CN", "CN-HE", "CN-ZJ", ""]),
        }
        for i in range(n)
    ]


def chunks(path: Path, chunk_rows: int = 1 << 20) -> Iterator[LoanChunk]:
    return read_loan_chunks(path, guess_format(path), chunk_rows)


def write(path: Path, loans: list[dict[str, str]], fmt: str) -> Path:
    if fmt == "csv":
        rows = [",".join(COLUMNS)] + [",".join(loan[c] for c in COLUMNS) for loan in loans]
        path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    elif fmt == "ndjson":
        path.write_text("".join(json.dumps(loan) + "\n" for loan in loans), encoding="utf-8")
    else:
        pq.write_table(pa.table({c: [loan[c] for loan in loans] for c in COLUMNS}), path, row_group_size=500)
    return path


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet"])
def test_a_file_totals_exactly_what_its_loans_avoid(
    shipped_registry: FactorRegistry, tmp_path: Path, fmt: str
) -> None:
    loans = synthetic_loans(3000)
    result = calculate_loan_chunks(shipped_registry, chunks(write(tmp_path / f"l.{fmt}", loans, fmt)))
    online = sum(loan["channel"] == "online" for loan in loans)
    assert (result.rows, result.loans_counted, result.online, result.rejected_count) == (
        3000,
        3000,
        online,
        0,
    )
    assert result.mg == online * PER_LOAN_MG
    assert sum(result.by_month.values()) == sum(result.by_product.values()) == sum(result.by_region.values())
    assert sum(result.by_region.values()) == result.mg
    assert set(result.by_region) == {"CN", "CN-HE", "CN-ZJ"}
    assert [f.id for f in result.factors] == ["mybank.online_loan.2021"]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunk_rows=st.integers(min_value=1, max_value=2500), fmt=st.sampled_from(["csv", "ndjson", "parquet"]))
def test_any_chunk_size_gives_the_same_milligrams(
    shipped_registry: FactorRegistry, tmp_path_factory: pytest.TempPathFactory, chunk_rows: int, fmt: str
) -> None:
    loans = synthetic_loans(1200, seed=3)
    path = write(tmp_path_factory.mktemp("chunks") / f"l.{fmt}", loans, fmt)
    whole = calculate_loan_chunks(shipped_registry, chunks(path, chunk_rows=10**6))
    chunked = calculate_loan_chunks(shipped_registry, chunks(path, chunk_rows=chunk_rows))
    assert (chunked.mg, chunked.by_month, chunked.by_product) == (whole.mg, whole.by_month, whole.by_product)
    assert chunked.groups == whole.groups


@pytest.mark.parametrize(
    ("fmt", "where"),
    [("csv", "line"), ("ndjson", "line"), ("parquet", "row")],
)
def test_bad_rows_are_reported_with_their_place_and_reason(
    shipped_registry: FactorRegistry, tmp_path: Path, fmt: str, where: str
) -> None:
    loans = synthetic_loans(50)
    loans[3]["disbursed_on"] = "2021-02-30"
    loans[7]["channel"] = "mobile"
    loans[11]["loan_id"] = ""
    loans[20]["region"] = "china"
    result = calculate_loan_chunks(shipped_registry, chunks(write(tmp_path / f"l.{fmt}", loans, fmt)))
    offset = 2 if fmt == "csv" else 1  # the CSV header is line 1
    assert [(r.where, r.reason.split()[0]) for r in result.rejected] == [
        (f"{where} {3 + offset}", "disbursed_on"),
        (f"{where} {7 + offset}", "channel"),
        (f"{where} {11 + offset}", "loan_id"),
        (f"{where} {20 + offset}", "region"),
    ]
    assert result.loans_counted == 46


def test_csv_lines_with_the_wrong_number_of_cells_are_located(
    shipped_registry: FactorRegistry, tmp_path: Path
) -> None:
    path = write(tmp_path / "l.csv", synthetic_loans(10), "csv")
    lines = path.read_text().splitlines()
    lines[4] = "broken,row"
    path.write_text("\n".join(lines) + "\n")
    result = calculate_loan_chunks(shipped_registry, chunks(path))
    assert [(r.where, r.reason) for r in result.rejected] == [("line 5", "2 cells, expected 5")]
    assert (result.rows, result.loans_counted) == (10, 9)


def test_ndjson_lines_that_are_not_objects_are_located(
    shipped_registry: FactorRegistry, tmp_path: Path
) -> None:
    path = write(tmp_path / "l.ndjson", synthetic_loans(6), "ndjson")
    lines = path.read_text().splitlines()
    lines[1] = "{not json"
    lines[3] = json.dumps({**json.loads(lines[3]), "loan_id": 42})
    path.write_text("\n".join(lines) + "\n")
    result = calculate_loan_chunks(shipped_registry, chunks(path))
    assert [(r.where, r.reason) for r in result.rejected] == [
        ("line 2", "not a JSON object"),
        ("line 4", "loan_id must be a string"),
    ]
    assert result.loans_counted == 4


def test_loans_twice_in_a_file_count_once_at_their_first_sighting(
    shipped_registry: FactorRegistry, tmp_path: Path
) -> None:
    loans = synthetic_loans(100)
    again = [dict(loan, product="late", channel="online") for loan in loans[:30]]
    path = write(tmp_path / "l.csv", loans + again, "csv")
    result = calculate_loan_chunks(shipped_registry, chunks(path, chunk_rows=64))
    assert (result.rows, result.loans_counted, result.duplicates_in_file) == (130, 100, 30)
    assert "late" not in result.by_product
    unique = calculate_loan_chunks(shipped_registry, chunks(path), dedupe=False)
    assert unique.loans_counted == 130  # the caller vouched for uniqueness


def test_a_day_without_a_factor_fails_the_whole_file(
    shipped_registry: FactorRegistry, tmp_path: Path
) -> None:
    loans = synthetic_loans(20)
    loans[5]["disbursed_on"], loans[5]["channel"] = "2024-03-01", "online"
    with pytest.raises(FactorError, match="no factor for online_loan in CN on 2024-03-01"):
        calculate_loan_chunks(shipped_registry, chunks(write(tmp_path / "l.csv", loans, "csv")))


def test_a_file_without_required_columns_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_text("id,day\n1,2021-01-01\n")
    with pytest.raises(RequestError, match="missing column"):
        list(chunks(path))


def test_the_file_total_equals_per_batch_posting_of_the_same_loans(
    shipped_registry: FactorRegistry, tmp_path: Path
) -> None:
    loans = synthetic_loans(2500, seed=11)
    bulk = calculate_loan_chunks(shipped_registry, chunks(write(tmp_path / "l.csv", loans, "csv")))
    engine = create_ledger_engine(f"sqlite:///{tmp_path / 'ledger.sqlite3'}")
    upgrade(engine)
    store = SqlLedger(engine)
    posted = 0
    for start in range(0, len(loans), 1000):
        batch = tuple(
            LoanInput(x["loan_id"], date.fromisoformat(x["disbursed_on"]), x["channel"], x["product"] or None,
                      x["region"] or None)
            for x in loans[start : start + 1000]
        )  # fmt: skip
        ctx = WriteContext("t", f"k{start}", f"c{start}", datetime.now(UTC))
        outcome = record_loan_batch(store, shipped_registry, ctx, LoanBatchInput(f"b{start}", batch),
                                    max_loans=10_000, default_region="CN", unit="mgCO2e")  # fmt: skip
        posted += int(outcome.body["avoided"]["value"])
    assert posted == bulk.mg == store.totals("t", None, None)["avoided"][0]
    engine.dispose()
