"""The fleet energy model and savings for the same work: exact, with units checked."""

from __future__ import annotations

from fractions import Fraction

import pytest

from carbon.core.energy_model import (
    CapacityTerm,
    Fleet,
    Measure,
    average_power,
    capacity_energy,
    energy_of,
    energy_saved,
    fleet_energy,
)
from carbon.errors import DimensionError, QuantityError


def m(value: str, unit: str) -> Measure:
    return Measure(Fraction(value), unit)


def fleet(**changes: object) -> Fleet:
    base: dict[str, object] = {
        "count": Fraction(100),
        "min_power": m("100", "W"),
        "max_power": m("300", "W"),
        "utilisation": Fraction("0.2"),
        "duration": m("744", "h"),
        "pue": Fraction("1.5"),
    }
    return Fleet(**{**base, **changes})  # type: ignore[arg-type]


def test_average_power_is_idle_plus_the_utilised_share_of_the_span() -> None:
    # Cloud Carbon Footprint's AWS vCPU: 0.74 W idle, 3.5 W full load, 50% utilisation
    assert average_power(Fraction("0.74"), Fraction("3.5"), Fraction("0.5")) == Fraction("2.12")
    assert average_power(Fraction(100), Fraction(300), Fraction(0)) == 100
    assert average_power(Fraction(100), Fraction(300), Fraction(1)) == 300


def test_fleet_energy_by_hand() -> None:
    # 100 servers x (100 + 0.2 x 200) W = 14,000 W; x 744 h = 10,416 kWh IT; x PUE 1.5 = 15,624 kWh
    energy = fleet_energy(fleet())
    assert energy.average_power == 140
    assert (energy.compute, energy.it, energy.total) == (Fraction(10_416), Fraction(10_416), Fraction(15_624))
    assert (energy.memory, energy.storage) == (Fraction(0), Fraction(0))


def test_units_are_converted_exactly() -> None:
    # 0.1 kW = 100 W, 31 days = 744 h: the same fleet
    same = fleet(min_power=m("0.1", "kW"), max_power=m("0.3", "kW"), duration=m("31", "d"))
    assert fleet_energy(same) == fleet_energy(fleet())


def test_memory_and_storage_terms() -> None:
    # 1,000 GB x 744 h x 0.000392 kWh/GB-h = 291.648 kWh; 10 TB SSD x 744 h x 1.2 Wh/TB-h = 8.928 kWh
    memory = CapacityTerm(m("1000", "GB"), m("0.000392", "kWh/(GB*h)"))
    ssd = CapacityTerm(m("10", "TB"), m("1.2", "Wh/(TB*h)"))
    energy = fleet_energy(fleet(memory=memory, storage=(ssd,)))
    assert energy.memory == Fraction("291.648")
    assert energy.storage == Fraction("8.928")
    assert energy.it == Fraction("10416") + Fraction("291.648") + Fraction("8.928")
    assert energy.total == energy.it * Fraction("1.5")
    assert capacity_energy(memory, m("744", "h")) == Fraction("291.648")


def test_wrong_units_name_the_expected_dimension() -> None:
    with pytest.raises(DimensionError, match="expected a quantity of power"):
        fleet_energy(fleet(min_power=m("100", "kWh")))
    with pytest.raises(DimensionError, match="expected a quantity of time"):
        fleet_energy(fleet(duration=m("744", "kWh")))
    with pytest.raises(
        DimensionError, match="information"
    ):  # bytes are dimensionless to pint: checked by name
        fleet_energy(fleet(memory=CapacityTerm(m("64", "count"), m("0.000392", "kWh/(GB*h)"))))
    with pytest.raises(DimensionError, match="energy per information per time"):
        fleet_energy(fleet(memory=CapacityTerm(m("64", "GB"), m("0.4", "W"))))


def test_impossible_inputs_are_refused() -> None:
    with pytest.raises(QuantityError, match="between 0 and 1"):
        fleet_energy(fleet(utilisation=Fraction(3, 2)))
    with pytest.raises(QuantityError, match="PUE is 1 or more"):
        fleet_energy(fleet(pue=Fraction("0.9")))
    with pytest.raises(QuantityError, match="below power at idle"):
        fleet_energy(fleet(min_power=m("300", "W"), max_power=m("100", "W")))
    with pytest.raises(QuantityError, match="negative"):
        m("-1", "W")


def test_a_saving_compares_the_same_work() -> None:
    # the baseline served 1,000,000 loans with 10,000 kWh; the actual 1,200,000 with 9,000 kWh:
    # for 1,200,000 loans the baseline would use 12,000 kWh, so 3,000 kWh were saved
    saving = energy_saved(Fraction(10_000), Fraction(9_000), m("1000000", "loan"), m("1200000", "loan"))
    assert (saving.work_ratio, saving.baseline_for_actual_work, saving.saved) == (
        Fraction(6, 5),
        Fraction(12_000),
        Fraction(3_000),
    )
    plain = energy_saved(Fraction(10_000), Fraction(9_000))
    assert (plain.work_ratio, plain.saved) == (Fraction(1), Fraction(1_000))
    thirds = energy_saved(Fraction(1), Fraction(0), m("3", "loan"), m("1", "loan"))
    assert thirds.saved == Fraction(1, 3)  # kept exact, not 0.333...


def test_a_saving_needs_comparable_work_and_a_real_saving() -> None:
    with pytest.raises(QuantityError, match="both scenarios, or of neither"):
        energy_saved(Fraction(10), Fraction(5), m("1", "loan"), None)
    with pytest.raises(DimensionError):
        energy_saved(Fraction(10), Fraction(5), m("1", "loan"), m("1", "kWh"))
    with pytest.raises(QuantityError, match="nothing was saved"):
        energy_saved(Fraction(5), Fraction(10))
    assert energy_of(m("46769.74", "MWh")) == Fraction("46769740")
