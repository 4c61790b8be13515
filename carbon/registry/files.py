"""Read one release folder (manifest, sources, factor tables) into frozen objects, collecting problems.

Nothing here raises on bad data: every problem is appended with its file and line, so one run reports
them all, as beancount's loader does.
"""

from __future__ import annotations

import csv
import hashlib
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from carbon.core.model import Book, Confidence, Factor, Gas, Method, Source
from carbon.errors import FactorDefinitionError, Problem
from carbon.registry.expressions import evaluate_value

__all__ = ["FACTOR_COLUMNS", "MANIFEST", "RawRelease", "read_release", "sha256_of"]

MANIFEST = "manifest.toml"
SOURCES = "sources.csv"
FACTOR_COLUMNS = (
    "id", "version", "activity", "value", "unit", "region", "valid_from", "valid_to", "book", "scope",
    "category", "method", "gas", "gwp_set", "source", "table", "confidence", "derivation",
)  # fmt: skip
_REQUIRED = ("id", "version", "activity", "value", "unit", "region", "valid_from", "book", "category",
             "source", "table", "confidence")  # fmt: skip
SOURCE_COLUMNS = ("id", "publisher", "document", "published", "url", "licence", "note")
_SOURCE_REQUIRED = ("id", "publisher", "document", "licence")
_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,127}")
_REGION = re.compile(r"GLOBAL|[A-Z]{2}(-[A-Z0-9]{1,10}){0,2}")
_GWP_SETS = ("AR4", "AR5", "AR6", "unstated")


@dataclass
class RawRelease:
    """What one folder holds, before the registry links releases together."""

    path: Path
    release: str = ""
    published: date | None = None
    supersedes: tuple[str, ...] = ()
    description: str = ""
    licence_notes: str = ""
    checksum: str = ""
    files: dict[str, str] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)
    factors: dict[str, Factor] = field(default_factory=dict)
    locations: dict[str, tuple[str, int]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def problem(self, file: str, line: int, message: str) -> None:
        """Record a problem located in this release's folder."""
        self.problems.append(Problem(f"{self.path.name}/{file}", line, message))


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def read_release(path: Path) -> RawRelease:
    """Read and validate one release folder; problems are collected in the result."""
    raw = RawRelease(path=path)
    if not (path / MANIFEST).is_file():
        raw.problem(MANIFEST, 0, "missing: a release folder needs a manifest")
        return raw
    _read_manifest(raw)
    _check_files(raw)
    if SOURCES in raw.files and (path / SOURCES).is_file():
        _read_sources(raw)
    for name in sorted(raw.files):
        if name != SOURCES and (path / name).is_file():
            _read_factor_table(raw, name)
    _check_overlaps(raw)
    return raw


def _read_manifest(raw: RawRelease) -> None:
    """Parse manifest.toml and check its keys."""
    data = raw.path / MANIFEST
    raw.checksum = sha256_of(data)
    try:
        manifest: dict[str, Any] = tomllib.loads(data.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raw.problem(MANIFEST, 0, f"not valid TOML: {error}")
        return
    raw.release = str(manifest.get("release", ""))
    if raw.release != raw.path.name:
        raw.problem(MANIFEST, 0, f"release {raw.release!r} must equal the folder name {raw.path.name!r}")
    published = manifest.get("published")
    if isinstance(published, date):
        raw.published = published
    else:
        raw.problem(MANIFEST, 0, "published must be a TOML date, like 2026-11-22")
    supersedes = manifest.get("supersedes", [])
    if not isinstance(supersedes, list) or not all(isinstance(s, str) for s in supersedes):
        raw.problem(MANIFEST, 0, "supersedes must be a list of release ids")
    else:
        raw.supersedes = tuple(supersedes)
    raw.description = str(manifest.get("description", ""))
    raw.licence_notes = str(manifest.get("licence_notes", ""))
    if not raw.licence_notes.strip():
        raw.problem(MANIFEST, 0, "licence_notes must say which licences the sources carry")
    files = manifest.get("files", {})
    if not isinstance(files, dict) or not files:
        raw.problem(MANIFEST, 0, "[files] must list every data file with its sha256")
    else:
        raw.files = {str(k): str(v) for k, v in files.items()}


def _check_files(raw: RawRelease) -> None:
    """Every data file listed, present, and unchanged since the release was sealed."""
    on_disk = {p.name for p in raw.path.iterdir() if p.is_file() and p.suffix == ".csv"}
    for name in sorted(on_disk - set(raw.files)):
        raw.problem(name, 0, "not listed in the manifest's [files]")
    for name, expected in sorted(raw.files.items()):
        file = raw.path / name
        if not file.is_file():
            raw.problem(name, 0, "listed in the manifest but missing")
        elif sha256_of(file) != expected:
            raw.problem(name, 0, "checksum does not match the manifest: a released file was edited")
    if SOURCES not in raw.files:
        raw.problem(SOURCES, 0, "missing: factor rows need their sources")


def _rows(raw: RawRelease, name: str, columns: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) from a CSV, skipping blank and '#' lines, checking the header."""
    try:
        lines = (raw.path / name).read_text(encoding="utf-8").splitlines(keepends=True)
    except UnicodeDecodeError:
        raw.problem(name, 0, "not UTF-8 text")
        return
    kept = [(n, line) for n, line in enumerate(lines, 1) if line.strip() and not line.startswith("#")]
    numbers = [n for n, _ in kept]
    reader = csv.reader(line for _, line in kept)
    header = next(reader, None)
    missing = [c for c in columns if header is None or c not in header]
    unknown = [c for c in header or [] if c not in columns]
    if header is None or missing or unknown:
        raw.problem(name, numbers[0] if numbers else 0, f"header: missing {missing}, unknown {unknown}")
        return
    consumed = reader.line_num
    for cells in reader:
        line = numbers[consumed]
        consumed = reader.line_num
        if len(cells) != len(header):
            raw.problem(name, line, f"{len(cells)} cells where the header has {len(header)}")
            continue
        yield line, {k: v.strip() for k, v in zip(header, cells, strict=True)}


def _read_sources(raw: RawRelease) -> None:
    """Parse sources.csv."""
    for line, row in _rows(raw, SOURCES, SOURCE_COLUMNS):
        empty = [c for c in _SOURCE_REQUIRED if not row[c]]
        if empty:
            raw.problem(SOURCES, line, f"empty required column(s): {', '.join(empty)}")
        elif not _ID.fullmatch(row["id"]):
            raw.problem(SOURCES, line, f"source id {row['id']!r} must match [a-z0-9][a-z0-9._-]*")
        elif row["id"] in raw.sources:
            raw.problem(SOURCES, line, f"duplicate source id {row['id']!r}")
        else:
            raw.sources[row["id"]] = Source(**row)


def _read_factor_table(raw: RawRelease, name: str) -> None:
    """Parse one factor table, row by row."""
    for line, row in _rows(raw, name, FACTOR_COLUMNS):
        messages: list[str] = []
        factor = _factor(raw, row, messages)
        for message in messages:
            raw.problem(name, line, message)
        if factor is None:
            continue
        if factor.id in raw.factors:
            raw.problem(name, line, f"duplicate factor id {factor.id!r}")
        else:
            raw.factors[factor.id] = factor
            raw.locations[factor.id] = (name, line)


def _factor(raw: RawRelease, row: dict[str, str], messages: list[str]) -> Factor | None:
    """Build a Factor from a row, or append why not."""
    empty = [c for c in _REQUIRED if not row[c]]
    if empty:
        messages.append(f"empty required column(s): {', '.join(empty)}")
        return None
    fields = _typed_fields(raw, row, messages)
    if messages:
        return None
    try:
        return Factor(release=raw.release, **fields)
    except FactorDefinitionError as error:
        messages.extend(f"{row['id']}: {m}" for m in error.messages)
        return None


def _typed_fields(raw: RawRelease, row: dict[str, str], messages: list[str]) -> dict[str, Any]:
    """Convert each cell to its type, appending a message per bad cell."""
    fields: dict[str, Any] = {"value_text": row["value"], "unit": row["unit"], "table": row["table"],
                              "category": row["category"], "derivation": row["derivation"]}  # fmt: skip

    def convert(key: str, column: str, parse: Any) -> None:
        try:
            fields[key] = parse(row[column]) if row[column] else None
        except ValueError as error:
            messages.append(f"{column} {row[column]!r}: {error}")

    for key, parse in (("id", _identifier), ("activity", _identifier), ("region", _region)):
        convert(key, key, parse)
    convert("version", "version", int)
    convert("value", "value", evaluate_value)
    convert("valid_from", "valid_from", date.fromisoformat)
    convert("valid_to", "valid_to", date.fromisoformat)
    convert("book", "book", Book)
    convert("scope", "scope", int)
    convert("method", "method", Method)
    convert("gas", "gas", Gas)
    convert("gwp_set", "gwp_set", _gwp_set)
    convert("confidence", "confidence", Confidence)
    convert("source", "source", lambda s: _source(raw, s))
    return fields


def _source(raw: RawRelease, source_id: str) -> Source:
    """The source a row cites, which sources.csv must define."""
    if source_id not in raw.sources:
        raise ValueError("not an id in sources.csv")
    return raw.sources[source_id]


def _identifier(text: str) -> str:
    """Ids and activities are lowercase dotted names."""
    if not _ID.fullmatch(text):
        raise ValueError("must match [a-z0-9][a-z0-9._-]*")
    return text


def _region(text: str) -> str:
    """GLOBAL, ISO 3166 codes, or a country code with a grid-region suffix."""
    if not _REGION.fullmatch(text):
        raise ValueError("must be GLOBAL, an ISO 3166 code (CN, CN-HE) or a grid region (CN-GRID-NORTH)")
    return text


def _gwp_set(text: str) -> str:
    """A known IPCC assessment report, or 'unstated'."""
    if text not in _GWP_SETS:
        raise ValueError(f"must be one of {', '.join(_GWP_SETS)}")
    return text


def _check_overlaps(raw: RawRelease) -> None:
    """Two factors for the same key and overlapping days would make a lookup ambiguous."""
    by_key: dict[tuple[object, ...], list[Factor]] = {}
    for factor in raw.factors.values():
        key = (factor.activity, factor.region, factor.method, factor.gwp_set)
        by_key.setdefault(key, []).append(factor)
    for group in by_key.values():
        group.sort(key=lambda f: f.valid_from)
        for earlier, later in zip(group, group[1:], strict=False):
            if earlier.valid_to is None or earlier.valid_to >= later.valid_from:
                file, line = raw.locations[later.id]
                raw.problem(
                    file, line,
                    f"{later.id} overlaps {earlier.id} in activity, region, method, GWP set and "
                    "validity: a lookup could not choose between them",
                )  # fmt: skip
