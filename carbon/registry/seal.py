"""Write the checksums of a release being prepared into its manifest (never run on a released folder)."""

from __future__ import annotations

from pathlib import Path

from carbon.errors import FactorValidationError, Problem
from carbon.registry.files import MANIFEST, sha256_of

__all__ = ["seal_release"]


def seal_release(path: Path) -> dict[str, str]:
    """Replace the manifest's [files] table (its last table) with every CSV file and its SHA-256."""
    manifest = path / MANIFEST
    if not manifest.is_file():
        raise FactorValidationError([Problem(str(manifest), 0, "missing: nothing to seal")])
    text = manifest.read_text(encoding="utf-8")
    head, marker, _ = text.partition("\n[files]")
    if not marker:
        raise FactorValidationError([Problem(str(manifest), 0, "needs a [files] table, last")])
    files = {p.name: sha256_of(p) for p in sorted(path.glob("*.csv"))}
    lines = [f'"{name}" = "{digest}"' for name, digest in files.items()]
    manifest.write_text(head + "\n[files]\n" + "\n".join(lines) + "\n", encoding="utf-8")
    return files
