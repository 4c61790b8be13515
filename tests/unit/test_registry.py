import shutil
from datetime import date
from pathlib import Path

import pytest

from carbon.core.model import Method
from carbon.errors import (
    AmbiguousFactorError,
    FactorNotFoundError,
    FactorValidationError,
    ReleaseNotFoundError,
)
from carbon.registry import FactorRegistry, check_release, load_registry
from carbon.registry.seal import seal_release

HEADER = (
    "id,version,activity,value,unit,region,valid_from,valid_to,book,scope,category,method,gas,"
    "gwp_set,source,table,confidence,derivation\n"
)


def _append_row(release: Path, row: str, seal: bool = True) -> None:
    with (release / "factors.csv").open("a", encoding="utf-8") as out:
        out.write(row + "\n")
    if seal:
        seal_release(release)


def test_lookup_by_activity_region_and_day(mini_registry: FactorRegistry) -> None:
    found = mini_registry.find("electricity", "CN", date(2021, 6, 1), method=Method.MARKET)
    assert found.id == "cn.grid.market.2021"
    assert found.value_text == "0.5942"
    assert found.source.publisher == "MEE+NBS"


def test_lookup_needing_a_method_names_the_candidates(mini_registry: FactorRegistry) -> None:
    with pytest.raises(AmbiguousFactorError) as caught:
        mini_registry.find("electricity", "CN", date(2021, 6, 1))
    assert caught.value.candidates == ("cn.grid.location.2021", "cn.grid.market.2021")


def test_lookup_outside_validity_says_what_is_covered(mini_registry: FactorRegistry) -> None:
    with pytest.raises(FactorNotFoundError, match=r"2021-01-01\.\.2021-12-31"):
        mini_registry.find("online_loan", "CN", date(2022, 1, 1))


def test_unknown_release_and_factor(mini_registry: FactorRegistry) -> None:
    with pytest.raises(ReleaseNotFoundError, match="test-1"):
        mini_registry.release("nope")
    with pytest.raises(FactorNotFoundError, match="nope"):
        mini_registry.factor("nope")


def test_mini_release_is_sound_and_checksummed(mini_registry: FactorRegistry) -> None:
    release = mini_registry.current
    assert release.id == "test-1"
    assert len(release.checksum) == 64
    assert set(release.files) == {"factors.csv", "sources.csv"}
    with pytest.raises(TypeError):
        release.factors["x"] = release.factors["model.sheets"]  # type: ignore[index]


def test_an_edited_released_file_is_refused(factors_copy: Path) -> None:
    _append_row(factors_copy / "test-1", "# a late edit", seal=False)
    problems = check_release(factors_copy / "test-1")
    assert [str(p) for p in problems] == [
        "test-1/factors.csv: checksum does not match the manifest: a released file was edited"
    ]
    with pytest.raises(FactorValidationError, match="checksum"):
        load_registry(factors_copy)


def test_every_problem_is_reported_at_once_with_file_and_line(factors_copy: Path) -> None:
    release = factors_copy / "test-1"
    base = "1,electricity,0.5,kgCO2e/kWh,CN,2022-01-01,2022-12-31,inventory,2,2:x,location,CO2e,AR5"
    _append_row(release, f"bad.unit,{base.replace('kgCO2e/kWh', 'kgCO2e/wibble')},mee-2021,t,primary,")
    _append_row(release, f"bad.source,{base.replace('2022', '2023')},nowhere,t,primary,")
    _append_row(release, f"bad.kg,{base.replace('kgCO2e/kWh', 'kg/kWh').replace('2022', '2024')},"
                         "mee-2021,t,primary,")  # fmt: skip
    _append_row(release, f"bad.derived,{base.replace('2022', '2025')},mee-2021,t,derived,")
    problems = [str(p) for p in check_release(release)]
    assert problems == [
        "test-1/factors.csv:8: bad.unit: unknown unit 'kgCO2e/wibble'",
        "test-1/factors.csv:9: source 'nowhere': not an id in sources.csv",
        "test-1/factors.csv:10: bad.kg: unit 'kg/kWh' is mass per energy; an emission factor needs "
        "CO2e mass per activity, like 'kgCO2e/kWh'",
        "test-1/factors.csv:11: bad.derived: a derived factor needs its derivation",
    ]


def test_overlapping_factors_are_refused(factors_copy: Path) -> None:
    release = factors_copy / "test-1"
    _append_row(release, "dup.grid,1,electricity,0.6,kgCO2/kWh,CN,2021-06-01,,inventory,2,"
                         "2:purchased-electricity,location,CO2,,mee-2021,t,secondary,")  # fmt: skip
    problems = [str(p) for p in check_release(release)]
    assert problems == [
        "test-1/factors.csv:8: dup.grid overlaps cn.grid.location.2021 in activity, region, method, "
        "GWP set and validity: a lookup could not choose between them"
    ]


def test_unlisted_and_missing_files_are_refused(factors_copy: Path) -> None:
    release = factors_copy / "test-1"
    (release / "extra.csv").write_text(HEADER, encoding="utf-8")
    (release / "sources.csv").unlink()
    messages = {str(p) for p in check_release(release)}
    assert "test-1/extra.csv: not listed in the manifest's [files]" in messages
    assert "test-1/sources.csv: listed in the manifest but missing" in messages


def _second_release(factors: Path) -> None:
    new = factors / "test-2"
    shutil.copytree(factors / "test-1", new)
    manifest = (new / "manifest.toml").read_text(encoding="utf-8")
    manifest = manifest.replace('release = "test-1"', 'release = "test-2"')
    manifest = manifest.replace("published = 2026-01-01", "published = 2026-02-01")
    manifest = manifest.replace("supersedes = []", 'supersedes = ["test-1"]')
    (new / "manifest.toml").write_text(manifest, encoding="utf-8")
    rows = (new / "factors.csv").read_text(encoding="utf-8")
    rows = rows.replace(
        "cn.grid.market.2021,1,electricity,0.5942", "cn.grid.market.2021,2,electricity,0.5943"
    )
    rows = rows.replace(
        "model.sheets,1,loan_model.paper_sheets,5,sheet/loan,GLOBAL,2021-01-01,,parameter,,loan-model,,,,model,README,assumed,\n",
        "",
    )
    (new / "factors.csv").write_text(rows, encoding="utf-8")
    seal_release(new)


def test_a_correction_is_a_new_release_that_supersedes_the_old(factors_copy: Path) -> None:
    _second_release(factors_copy)
    registry = load_registry(factors_copy)
    assert registry.current.id == "test-2"
    assert [r.id for r in registry.releases()] == ["test-2", "test-1"]
    assert registry.factor("cn.grid.market.2021").value_text == "0.5943"
    assert registry.factor("cn.grid.market.2021", "test-1").value_text == "0.5942"
    diff = registry.diff("test-1", "test-2")
    assert [(a.version, b.version) for a, b in diff.changed] == [(1, 2)]
    assert [f.id for f in diff.removed] == ["model.sheets"]
    assert diff.added == ()
    assert diff.unchanged == 3


def test_superseding_an_unknown_release_is_refused(factors_copy: Path) -> None:
    manifest = factors_copy / "test-1" / "manifest.toml"
    manifest.write_text(manifest.read_text().replace("supersedes = []", 'supersedes = ["ghost"]'))
    with pytest.raises(FactorValidationError, match="ghost"):
        load_registry(factors_copy)
