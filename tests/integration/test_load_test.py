"""The load test script end to end, briefly: a real server, real clients, the ledger check, a clean stop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.load_test import DAYS, main
from tests.conftest import SHIPPED_FACTORS
from tests.oracle import Oracle

RATE = 5.0


@pytest.mark.slow
def test_a_short_load_run_has_no_errors_agrees_with_the_ledger_and_stops_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "load.json"
    argv = ["--duration", "6", "--clients", "2", "--rate", str(RATE), "--loans", "200", "--json", str(out)]
    code = main(argv)
    table = capsys.readouterr().out
    summary = json.loads(out.read_text())
    load = summary["load"]
    assert code == 0, json.dumps({k: v for k, v in summary.items() if k != "rss"}, indent=2)[:4000]
    assert load["errors"] == 0
    assert load["status_counts"] == {"201": load["requests_sent"]}
    assert load["requests_sent"] == load["requests_scheduled"] == 30
    assert summary["ledger"]["agrees"], summary["ledger"]
    assert summary["ledger"]["found"]["loans"] == 30 * 200
    # The ledger against amounts computed here, not against what the server acknowledged: every batch is
    # 200 loans over DAYS, each fifth one a branch loan, priced by the oracle under the shipped factors.
    batch = [
        {
            "loan_id": str(i),
            "disbursed_on": DAYS[i % len(DAYS)],
            "channel": "online" if i % 5 != 4 else "branch",
        }
        for i in range(200)
    ]
    per_batch = Oracle(SHIPPED_FACTORS).loans(batch).total
    assert per_batch == 160 * 34_800
    found = summary["ledger"]["found"]
    assert (found["mg_totals_delta"], found["mg_entries"]) == (str(30 * per_batch), str(30 * per_batch))
    assert RATE * 0.6 <= load["throughput_batches_per_s"] <= RATE * 1.2
    assert load["throughput_loans_per_s"] == pytest.approx(load["throughput_batches_per_s"] * 200, rel=0.01)
    assert summary["shutdown"]["clean"]
    assert summary["shutdown"]["exit_code"] == 0
    assert summary["shutdown"]["seconds"] < 30
    latency = load["latency_ms"]
    assert 0 < latency["p50"] <= latency["p90"] <= latency["p99"] <= latency["max"]
    assert summary["rss"]["start_mib"] > 0 and summary["rss"]["slope_mib_per_min"] is not None
    assert "latency p50 / p90 / p99 / max" in table
    assert "| errors | 0 |" in table
