"""README documents every setting the service reads, by its environment variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from carbon.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("field", sorted(Settings.model_fields))
def test_every_setting_is_in_the_readme(field: str) -> None:
    assert f"CARBON_{field.upper()}`" in README, f"README does not document CARBON_{field.upper()}"
