"""One rule for free text (product, entity, description) wherever it enters, and one for where it leaves
as a spreadsheet cell.

Text enters through the batch API and through loan files: both refuse control characters (C0, DEL, C1)
and the Unicode line and paragraph separators, which a CSV reader or a spreadsheet can take for the end
of a cell or a row. Text leaves in CSV reports, where a cell a spreadsheet would evaluate (`=`, `+`, `-`,
`@` first, even after spaces) is written with a leading apostrophe.
"""

from __future__ import annotations

import re
from decimal import Decimal

__all__ = [
    "CONTROL_CHARACTERS",
    "PLAIN_TEXT_PATTERN",
    "PRODUCT_MAX_LENGTH",
    "is_plain_text",
    "spreadsheet_cell",
]

CONTROL_CHARACTERS = r"\x00-\x1f\x7f-\x9f\u2028\u2029"
PLAIN_TEXT_PATTERN = rf"^[^{CONTROL_CHARACTERS}]+$"  # for request models (JSON Schema and pydantic alike)
PRODUCT_MAX_LENGTH = 64

_CONTROL = re.compile(f"[{CONTROL_CHARACTERS}]")
_NUMBER = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_FORMULA_FIRST = ("=", "+", "-", "@", "\uff1d", "\uff0b", "\uff0d", "\uff20")  # and their full-width forms


def is_plain_text(value: str, max_length: int) -> bool:
    """1 to max_length characters, none of them a control character or a line separator."""
    return 0 < len(value) <= max_length and _CONTROL.search(value) is None


def spreadsheet_cell(value: object) -> str:
    """A CSV cell no spreadsheet evaluates: numbers exact and unchanged; control characters in text become
    spaces (so no cell holds a line of its own), and text that starts like a formula, after any leading
    whitespace, gets a leading apostrophe."""
    if value is None:
        return ""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    text = _CONTROL.sub(" ", str(value))
    if _NUMBER.fullmatch(text) is None and text.lstrip().startswith(_FORMULA_FIRST):
        return "'" + text
    return text
