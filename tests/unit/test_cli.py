"""The CLI against the frozen mini release: readable output, --json, one-line errors, exit codes."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from carbon.cli import app
from carbon.settings import get_settings
from tests.conftest import TEST_FACTORS

runner = CliRunner()


@pytest.fixture(autouse=True)
def mini_factors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBON_FACTORS_DIR", str(TEST_FACTORS))
    get_settings.cache_clear()


def test_loans_report_the_mybank_year_with_factor_release_and_source() -> None:
    result = runner.invoke(app, ["calculate", "loans", "--count", "283129023", "--on", "2021-12-31"])
    assert result.exit_code == 0, result.output
    assert "9,852.89 tCO2e" in result.output
    assert "exactly 9852.8900004 tCO2e" in result.output
    assert "mybank.online_loan.2021" in result.output
    assert "release     test-1" in result.output
    assert "MYbank: 2021 Sustainability Report" in result.output


def test_energy_reports_ant_group_as_json() -> None:
    result = runner.invoke(app, ["calculate", "energy", "--saved", "46769.74 MWh",
                                 "--factor", "ant.green_computing.2021", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["emission"] == {"value": "21883.63", "unit": "tCO2e"}
    assert data["display"] == "21,883.63 tCO2e"
    assert data["factor"]["release"] == "test-1"
    assert data["factor"]["value"] == "21883.63 / 46769.74"
    assert data["factor"]["confidence"] == "derived"
    assert data["factor"]["source"]["publisher"] == "Ant Group"


def test_energy_by_grid_lookup_in_another_unit() -> None:
    result = runner.invoke(app, ["calculate", "energy", "--saved", "1000 kWh", "--region", "CN",
                                 "--on", "2021-03-01", "--method", "market", "--unit", "kgCO2e",
                                 "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["emission"] == {"value": "594.2", "unit": "kgCO2e"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["energy", "--saved", "5 MWh", "--factor", "mybank.online_loan.2021"],
         "unit 'MWh' has dimension energy, expected a quantity of loans"),
        (["energy", "--saved", "5 wibbles", "--factor", "ant.green_computing.2021"],
         "unknown unit 'wibbles'"),
        (["energy", "--saved", "5 kWh*km^150000/mi^150000", "--factor", "ant.green_computing.2021"],
         "refused: exponents must be whole numbers from -4 to 4"),
        (["energy", "--saved", "-5 MWh", "--factor", "ant.green_computing.2021"], "negative"),
        (["energy", "--saved", "nan MWh", "--factor", "ant.green_computing.2021"], "finite"),
        (["energy", "--saved", "inf MWh", "--factor", "ant.green_computing.2021"], "finite"),
        (["loans", "--count", "-3", "--on", "2021-01-01"], "negative"),
        (["loans", "--count", "3", "--on", "2022-01-01"], "no factor for online_loan in CN"),
        (["loans", "--count", "3", "--on", "yesterday"], "--on must be a date"),
        (["loans", "--count", "3", "--on", "2021-01-01", "--release", "r9"], "no factor release"),
    ],
)  # fmt: skip
def test_bad_input_fails_with_one_line_and_exit_code_1(args: list[str], message: str) -> None:
    result = runner.invoke(app, ["calculate", *args])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("carbon: error: ")
    assert message in lines[0]


def test_factors_check_passes_on_a_sound_release() -> None:
    result = runner.invoke(app, ["factors", "check", str(TEST_FACTORS / "test-1")])
    assert result.exit_code == 0
    assert "ok: release test-1 is sound" in result.output


def test_factors_check_names_file_and_line_on_a_broken_copy(factors_copy: Path) -> None:
    rows = factors_copy / "test-1" / "factors.csv"
    text = rows.read_text(encoding="utf-8")
    rows.write_text(text.replace("34.80,gCO2e/loan", "34.80,gCO2e/wibble"), encoding="utf-8")
    result = runner.invoke(app, ["factors", "check", str(factors_copy)])
    assert result.exit_code == 1
    assert "test-1/factors.csv: checksum does not match the manifest" in result.stderr
    assert "test-1/factors.csv:3: mybank.online_loan.2021: unknown unit 'gCO2e/wibble'" in result.stderr


def test_factors_list_show_and_releases() -> None:
    listed = json.loads(runner.invoke(app, ["factors", "list", "--activity", "electricity",
                                            "--json"]).output)  # fmt: skip
    assert [f["id"] for f in listed] == ["cn.grid.location.2021", "cn.grid.market.2021"]
    shown = runner.invoke(app, ["factors", "show", "cn.grid.location.2021"])
    assert "0.5568" in shown.output
    assert "Annex 1" in shown.output
    releases = runner.invoke(app, ["factors", "releases"])
    assert "* test-1" in releases.output


def test_db_upgrade_creates_the_ledger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARBON_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "carbon.sqlite3").is_file()
    assert "is up to date" in result.output
