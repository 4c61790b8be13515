"""Carbon accounting for online lending and green computing.

The library API: exact, unit-safe emission calculations over versioned emission-factor releases.
"""

from carbon.core.calculate import calculate, emissions_mg, format_amount, mg_per_unit, total_mg
from carbon.core.model import Book, Confidence, Emission, Factor, Gas, Method, Source
from carbon.core.units import parse_quantity, parse_unit, ureg
from carbon.errors import (
    AmbiguousFactorError,
    CarbonError,
    DimensionError,
    FactorDefinitionError,
    FactorError,
    FactorNotFoundError,
    FactorValidationError,
    Problem,
    QuantityError,
    ReleaseNotFoundError,
    UnitError,
    UnknownUnitError,
)
from carbon.registry import FactorRegistry, Release, ReleaseDiff, check_release, load_registry

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "AmbiguousFactorError",
    "Book",
    "calculate",
    "CarbonError",
    "check_release",
    "Confidence",
    "DimensionError",
    "Emission",
    "emissions_mg",
    "Factor",
    "FactorDefinitionError",
    "FactorError",
    "FactorNotFoundError",
    "FactorRegistry",
    "FactorValidationError",
    "format_amount",
    "Gas",
    "load_registry",
    "Method",
    "mg_per_unit",
    "parse_quantity",
    "parse_unit",
    "Problem",
    "QuantityError",
    "Release",
    "ReleaseDiff",
    "ReleaseNotFoundError",
    "Source",
    "total_mg",
    "UnitError",
    "UnknownUnitError",
    "ureg",
]
