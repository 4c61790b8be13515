"""The FactorRegistry: every loaded release, immutable, with lookup by id or by (activity, region, day)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import MappingProxyType

from carbon.core.model import Factor, Method, Source
from carbon.errors import (
    AmbiguousFactorError,
    FactorNotFoundError,
    FactorValidationError,
    Problem,
    ReleaseNotFoundError,
)
from carbon.registry.files import MANIFEST, RawRelease, read_release

__all__ = ["FactorRegistry", "Release", "ReleaseDiff", "check_release", "load_registry"]


@dataclass(frozen=True, slots=True)
class Release:
    """A named, checksummed, immutable set of factors."""

    id: str
    published: date
    supersedes: tuple[str, ...]
    description: str
    licence_notes: str
    checksum: str
    files: Mapping[str, str]
    sources: Mapping[str, Source]
    factors: Mapping[str, Factor]

    @classmethod
    def from_raw(cls, raw: RawRelease) -> Release:
        """Freeze a release that was read without problems."""
        assert raw.published is not None
        return cls(
            id=raw.release,
            published=raw.published,
            supersedes=raw.supersedes,
            description=raw.description,
            licence_notes=raw.licence_notes,
            checksum=raw.checksum,
            files=MappingProxyType(dict(raw.files)),
            sources=MappingProxyType(dict(raw.sources)),
            factors=MappingProxyType(dict(raw.factors)),
        )


@dataclass(frozen=True, slots=True)
class ReleaseDiff:
    """What changed between two releases, id by id."""

    old: str
    new: str
    added: tuple[Factor, ...]
    removed: tuple[Factor, ...]
    changed: tuple[tuple[Factor, Factor], ...]
    unchanged: int


class FactorRegistry:
    """Every release of a factors folder; the current one is the newest that nothing supersedes."""

    def __init__(self, releases: Iterable[Release]) -> None:
        self._releases = {r.id: r for r in releases}
        if not self._releases:
            raise ReleaseNotFoundError("no factor release loaded")
        self._index: dict[tuple[str, str, str], list[Factor]] = {}
        for r in self._releases.values():
            for f in r.factors.values():
                self._index.setdefault((r.id, f.activity, f.region), []).append(f)
        superseded = {s for r in self._releases.values() for s in r.supersedes}
        live = [r for r in self._releases.values() if r.id not in superseded]
        self._current = max(live or self._releases.values(), key=lambda r: (r.published, r.id)).id

    @property
    def current(self) -> Release:
        """The release used when a calculation pins none."""
        return self._releases[self._current]

    def releases(self) -> list[Release]:
        """All releases, newest first."""
        return sorted(self._releases.values(), key=lambda r: (r.published, r.id), reverse=True)

    def release(self, release: str | None = None) -> Release:
        """A release by id (the current one when None)."""
        if release is None:
            return self.current
        try:
            return self._releases[release]
        except KeyError:
            known = ", ".join(sorted(self._releases))
            raise ReleaseNotFoundError(f"no factor release {release!r}; known: {known}") from None

    def factor(self, factor_id: str, release: str | None = None) -> Factor:
        """A factor by id within a release."""
        chosen = self.release(release)
        try:
            return chosen.factors[factor_id]
        except KeyError:
            raise FactorNotFoundError(f"no factor {factor_id!r} in release {chosen.id}") from None

    def factors(
        self,
        release: str | None = None,
        *,
        activity: str | None = None,
        region: str | None = None,
        on: date | None = None,
    ) -> list[Factor]:
        """Factors of a release, filtered, sorted by id."""
        chosen = self.release(release)
        pool = (
            self._index.get((chosen.id, activity, region), [])
            if activity is not None and region is not None
            else chosen.factors.values()
        )
        return sorted(
            (
                f
                for f in pool
                if (activity is None or f.activity == activity)
                and (region is None or f.region == region)
                and (on is None or f.applies_on(on))
            ),
            key=lambda f: f.id,
        )

    def find(
        self,
        activity: str,
        region: str,
        on: date,
        *,
        method: Method | None = None,
        gwp_set: str | None = None,
        release: str | None = None,
    ) -> Factor:
        """The one factor for (activity, region, day), narrowed by method and GWP set where given."""
        chosen = self.release(release)
        same = self._index.get((chosen.id, activity, region), [])
        matches = [
            f
            for f in same
            if f.applies_on(on)
            and (method is None or f.method is method)
            and (gwp_set is None or f.gwp_set == gwp_set)
        ]
        if len(matches) == 1:
            return matches[0]
        what = f"{activity} in {region} on {on.isoformat()}" + (f" ({method} method)" if method else "")
        if matches:
            raise AmbiguousFactorError(
                f"more than one factor for {what} in release {chosen.id}: give the method or GWP set",
                tuple(sorted(f.id for f in matches)),
            )
        raise FactorNotFoundError(f"no factor for {what} in release {chosen.id}{_coverage(same)}")

    def diff(self, old: str, new: str) -> ReleaseDiff:
        """Factors added, removed and changed (value, unit, version or validity) between releases."""
        a, b = self.release(old).factors, self.release(new).factors
        changed = tuple((a[i], b[i]) for i in sorted(a.keys() & b.keys()) if _differs(a[i], b[i]))
        return ReleaseDiff(
            old=old,
            new=new,
            added=tuple(b[i] for i in sorted(b.keys() - a.keys())),
            removed=tuple(a[i] for i in sorted(a.keys() - b.keys())),
            changed=changed,
            unchanged=len(a.keys() & b.keys()) - len(changed),
        )


def _coverage(same: list[Factor]) -> str:
    """Say which days the activity and region are covered, to make a miss easy to fix."""
    if not same:
        return ""
    spans = sorted(
        f"{f.valid_from}..{f.valid_to or 'open'}" + (f" {f.method}" if f.method else "") for f in same
    )
    return f"; factors there cover {', '.join(spans)}"


def _differs(a: Factor, b: Factor) -> bool:
    """A factor changed if anything a calculation or an auditor relies on changed."""
    keys = ("version", "value", "unit", "valid_from", "valid_to", "method", "gwp_set", "source")
    return any(getattr(a, k) != getattr(b, k) for k in keys)


def check_release(path: Path) -> list[Problem]:
    """Every problem of one release folder (empty when it is sound)."""
    return read_release(path).problems


def load_registry(root: Path) -> FactorRegistry:
    """Load every release under `root`; raise FactorValidationError listing every problem found."""
    if not root.is_dir():
        raise FactorValidationError([Problem(str(root), 0, "factors folder not found")])
    raws = [read_release(p) for p in sorted(root.iterdir()) if (p / MANIFEST).is_file()]
    problems = [p for raw in raws for p in raw.problems]
    known = {raw.release for raw in raws}
    for raw in raws:
        for missing in sorted(set(raw.supersedes) - known):
            raw.problem(MANIFEST, 0, f"supersedes unknown release {missing!r}")
            problems.append(raw.problems[-1])
    if not raws:
        problems.append(Problem(str(root), 0, "no release folder (with a manifest.toml) found"))
    if problems:
        raise FactorValidationError(problems)
    return FactorRegistry(Release.from_raw(raw) for raw in raws)
