"""`carbon green windows`: the lowest-emission start times for a job, from a series file."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from carbon.cli import app

runner = CliRunner()

CSV = """start,intensity,unit
2026-11-22T00:00:00+08:00,500,gCO2e/kWh
2026-11-22T01:00:00+08:00,400,gCO2e/kWh
2026-11-22T02:00:00+08:00,100,gCO2e/kWh
2026-11-22T03:00:00+08:00,100,gCO2e/kWh
2026-11-22T04:00:00+08:00,300,gCO2e/kWh
"""


def test_windows_from_a_csv_file(tmp_path: Path) -> None:
    series = tmp_path / "cn.csv"
    series.write_text(CSV, encoding="utf-8")
    args = [
        "green",
        "windows",
        "--series",
        str(series),
        "--profile",
        "2,1 kWh",
        "--deadline",
        "2026-11-22T05:00:00+08:00",
        "--now",
        "2026-11-22T00:00:00+08:00",
        "--top",
        "2",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "job  3 kWh over 2 step(s) of 3600 s; 4 start(s) compared"
    assert lines[1] == "now  2026-11-22T00:00:00+08:00 .. 2026-11-22T02:00:00+08:00  1400 gCO2e"
    assert (
        lines[2] == "1    2026-11-22T02:00:00+08:00 .. 2026-11-22T04:00:00+08:00  300 gCO2e  saves 1100 gCO2e"
    )
    as_json = json.loads(runner.invoke(app, [*args, "--json", "--unit", "kgCO2e"]).output)
    assert as_json["windows"][1]["emissions"] == {"value": "0.5", "unit": "kgCO2e"}


def test_windows_errors_are_one_line(tmp_path: Path) -> None:
    series = tmp_path / "cn.json"
    series.write_text(
        '{"unit": "gCO2e/kWh", "points": [{"start": "2026-11-22T00:00:00Z", "intensity": "x"}]}'
    )
    result = runner.invoke(
        app,
        [
            "green",
            "windows",
            "--series",
            str(series),
            "--profile",
            "1 kWh",
            "--deadline",
            "2026-11-22T05:00:00Z",
        ],
    )
    assert result.exit_code == 1
    assert "carbon: error: point 0: intensity" in result.output
    series = tmp_path / "cn.csv"
    series.write_text(CSV, encoding="utf-8")
    no_zone = runner.invoke(
        app,
        [
            "green",
            "windows",
            "--series",
            str(series),
            "--profile",
            "1 kWh",
            "--deadline",
            "2026-11-22T05:00:00",
        ],
    )
    assert "--deadline needs a time zone" in no_zone.output
    bad_profile = runner.invoke(
        app,
        [
            "green",
            "windows",
            "--series",
            str(series),
            "--profile",
            "kWh",
            "--deadline",
            "2026-11-22T05:00:00Z",
        ],
    )
    assert "--profile is energy per step and a unit" in bad_profile.output
