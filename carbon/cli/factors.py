"""`carbon factors`: list, show, check, diff and seal emission-factor releases."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from carbon.cli.common import (
    OUT,
    JsonOption,
    OnOption,
    ReleaseOption,
    load_factors,
    parse_day,
    print_json,
    reported,
)
from carbon.errors import FactorValidationError
from carbon.registry import check_release, load_registry
from carbon.registry.files import MANIFEST
from carbon.registry.seal import seal_release
from carbon.services.views import factor_view, release_view
from carbon.settings import get_settings

__all__ = ["factors_app"]


factors_app = typer.Typer(
    help="Inspect and check emission-factor releases.", no_args_is_help=True, rich_markup_mode=None
)


@factors_app.command("list")
def factors_list(
    release: ReleaseOption = None,
    activity: Annotated[str | None, typer.Option(help="Only this activity.")] = None,
    region: Annotated[str | None, typer.Option(help="Only this region.")] = None,
    on: OnOption = None,
    as_json: JsonOption = False,
) -> None:
    """List the factors of a release (the current one by default)."""
    with reported():
        registry = load_factors()
        day = parse_day(on) if on else None
        found = registry.factors(release, activity=activity, region=region, on=day)
        if as_json:
            print_json([factor_view(f) for f in found])
            return
        table = Table("id", "value", "unit", "region", "valid", "book", "confidence",
                      title=f"release {registry.release(release).id}")  # fmt: skip
        for f in found:
            valid = f"{f.valid_from}..{f.valid_to or ''}"
            table.add_row(f.id, f.value_text, f.unit, f.region, valid, str(f.book), str(f.confidence))
        OUT.print(table)


@factors_app.command("show")
def factors_show(factor_id: str, release: ReleaseOption = None, as_json: JsonOption = False) -> None:
    """Show one factor with its full provenance."""
    with reported():
        view = factor_view(load_factors().factor(factor_id, release))
        if as_json:
            print_json(view)
            return
        source = view.pop("source")
        for key, value in [*view.items(), *(("source." + k, v) for k, v in source.items())]:
            if value is not None:
                OUT.print(f"{key:>18}  {value}", markup=False)


@factors_app.command("releases")
def factors_releases(as_json: JsonOption = False) -> None:
    """List factor releases, newest first, marking the current one."""
    with reported():
        registry = load_factors()
        views = [release_view(r, r.id == registry.current.id) for r in registry.releases()]
        if as_json:
            print_json(views)
            return
        for v in views:
            mark = "*" if v["current"] else " "
            OUT.print(f"{mark} {v['id']}  published {v['published']}  {v['factor_count']} factors  "
                      f"sha256 {v['checksum'][:16]}", markup=False)  # fmt: skip


@factors_app.command("check")
def factors_check(
    path: Annotated[Path | None, typer.Argument(help="A release folder or a factors folder.")] = None,
) -> None:
    """Validate factor files; every problem is printed with its file and line."""
    with reported():
        target = path or get_settings().factors_dir
        if (target / MANIFEST).is_file():
            problems = check_release(target)
            if problems:
                raise FactorValidationError(problems)
            OUT.print(f"ok: release {target.name} is sound", markup=False)
            return
        registry = load_registry(target)
        count = sum(len(r.factors) for r in registry.releases())
        OUT.print(f"ok: {len(registry.releases())} release(s), {count} factors, current "
                  f"{registry.current.id}", markup=False)  # fmt: skip


@factors_app.command("diff")
def factors_diff(old: str, new: str, as_json: JsonOption = False) -> None:
    """Show the factors added, removed and changed between two releases."""
    with reported():
        diff = load_factors().diff(old, new)
        if as_json:
            print_json({
                "old": diff.old, "new": diff.new, "unchanged": diff.unchanged,
                "added": [factor_view(f) for f in diff.added],
                "removed": [factor_view(f) for f in diff.removed],
                "changed": [{"old": factor_view(a), "new": factor_view(b)} for a, b in diff.changed],
            })  # fmt: skip
            return
        for f in diff.added:
            OUT.print(f"+ {f.id} {f.value_text} {f.unit}", markup=False)
        for f in diff.removed:
            OUT.print(f"- {f.id} {f.value_text} {f.unit}", markup=False)
        for a, b in diff.changed:
            OUT.print(f"~ {a.id} v{a.version} {a.value_text} {a.unit} -> v{b.version} "
                      f"{b.value_text} {b.unit}", markup=False)  # fmt: skip
        OUT.print(f"{len(diff.added)} added, {len(diff.removed)} removed, {len(diff.changed)} "
                  f"changed, {diff.unchanged} unchanged", markup=False)  # fmt: skip


@factors_app.command("seal")
def factors_seal(path: Path) -> None:
    """Write the checksums of a release being prepared into its manifest (not for released folders)."""
    with reported():
        for name, digest in seal_release(path).items():
            OUT.print(f"{digest}  {name}", markup=False)
        problems = check_release(path)
        if problems:
            raise FactorValidationError(problems)
