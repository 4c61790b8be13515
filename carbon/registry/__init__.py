"""Factor files to a validated, immutable FactorRegistry."""

from carbon.registry.registry import (
    FactorRegistry,
    Release,
    ReleaseDiff,
    check_release,
    load_registry,
)

__all__ = ["FactorRegistry", "Release", "ReleaseDiff", "check_release", "load_registry"]
