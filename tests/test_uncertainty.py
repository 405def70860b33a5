"""Uncertainty sets: configs become futures, checked against the dataset before any solve."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from twin.config import compose_config
from twin.data import load_dataset
from twin.uncertainty import SMALLEST_FACTOR, UncertaintyError, from_config, multipliers

from .conftest import DATA


@pytest.fixture(scope="module")
def reference():
    return load_dataset(DATA / "eaeu_china")


def config_of(name: str) -> dict:
    return OmegaConf.to_container(compose_config([f"uncertainty={name}"]).uncertainty)


@pytest.mark.parametrize("name", ["geopolitics", "markets", "combined"])
def test_shipped_sets_fit_the_reference_data(reference, name: str):
    uncertainty = from_config(config_of(name), reference)
    assert sum(f.probability for f in uncertainty.futures) == pytest.approx(1.0)
    assert uncertainty.warnings == []  # every scope matches something in the reference


def test_a_sample_is_equiprobable_reproducible_and_never_drops_demand(reference):
    config = config_of("combined")
    first = from_config(config, reference).futures
    again = from_config(config, reference).futures
    assert first == again and len(first) == config["sample"]["count"]
    assert {f.probability for f in first} == {1 / len(first)}
    config["sample"]["seed"] += 1
    assert from_config(config, reference).futures != first
    factors = [s.factor for f in first for s in f.demand]
    assert min(factors) >= SMALLEST_FACTOR
    closed = [c for f in first for c in f.closures]
    assert closed and all(c.period is not None for c in closed)  # closures per period


def test_a_closure_of_an_unknown_crossing_is_an_error_naming_it(reference):
    config = config_of("geopolitics")
    config["futures"][1]["close_crossings"] = ["nowhere"]
    with pytest.raises(UncertaintyError, match="nowhere"):
        from_config(config, reference)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"probability": 1.5}, "probability"),
        ({"demand": [{"factor": -1.0}]}, "factor"),
        ({"capacity_cut": {"dostyk_alashankou": 2.0}}, "share"),
    ],
)
def test_bad_values_of_a_future_are_refused(reference, change: dict, message: str):
    config = config_of("geopolitics")
    config["futures"][0] |= change
    with pytest.raises(UncertaintyError, match=message):
        from_config(config, reference)


def test_factors_of_several_scopes_multiply_on_the_rows_they_share(reference):
    config = {
        "futures": [
            {
                "name": "f",
                "probability": 1.0,
                "demand": [{"factor": 2.0, "chain": "agrotech"}, {"factor": 3.0, "period": 2035}],
            }
        ]
    }
    (future,) = from_config(config, reference).futures
    demand = reference.demand
    factor = multipliers(demand, future.demand, reference)
    chain = demand["commodity_id"].map(reference.commodities.set_index("commodity_id")["chain"])
    agro, late = (chain == "agrotech").to_numpy(), (demand["period"] == 2035).to_numpy()
    expected = np.where(agro, 2.0, 1.0) * np.where(late, 3.0, 1.0)
    np.testing.assert_array_equal(factor, expected)
