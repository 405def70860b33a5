"""Rules on the values of a resolved config, checked before any work.

Hydra checks types against the structured configs of `twin.config`; it cannot know that a
discount rate of -1 or a MIP gap of 5 makes no sense, and it lets `+scenario.foo=1` add a key
that nothing reads. `config_problems` lists every such problem as one line: the key, the
value and the rule. Rules that need the dataset (corridor ids, countries, blocs) are checked
where the dataset is at hand (`twin.config.to_run_inputs`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, get_type_hints

from omegaconf import DictConfig, OmegaConf

from twin.analysis import ANALYSES
from twin.parallel import BACKENDS, cores
from twin.pareto import METHODS as PARETO_METHODS
from twin.scenario import FAMILIES, METHODS, OBJECTIVES, ROOT_LPS, STRENGTHENING
from twin.uncertainty import MAX_FUTURES

MISSING = object()


@dataclass(frozen=True)
class Rule:
    """A value is valid when `test` holds; `text` says what is asked."""

    test: Callable[[Any], bool]
    text: str


def _show(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def number(low: float | None = None, high: float | None = None, *, above: bool = False) -> Rule:
    """A finite number within [low, high] (or above `low` when `above`)."""

    def test(value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if not math.isfinite(value):
            return False
        if low is not None and (value <= low if above else value < low):
            return False
        return high is None or value <= high

    if low is not None and high is not None:
        text = f"must be a finite number from {_show(low)} to {_show(high)}"
    elif low is not None:
        text = f"must be a finite number {'>' if above else '>='} {_show(low)}"
    else:
        text = "must be a finite number"
    return Rule(test, text)


def optional(rule: Rule) -> Rule:
    return Rule(lambda value: value is None or rule.test(value), f"{rule.text}, or null")


def one_of(options: tuple[str, ...]) -> Rule:
    return Rule(lambda value: value in options, f"must be one of {', '.join(options)}")


def some_of(options: tuple[str, ...], needed: tuple[str, ...] = ()) -> Rule:
    text = f"may list only {', '.join(options)}"
    if needed:
        text += f", and must list {' and '.join(needed)}"
    return Rule(
        lambda value: (
            all(item in options for item in value) and all(item in value for item in needed)
        ),
        text,
    )


def from_master(what: str) -> Rule:
    """The MILP master from which Benders does `what` (`solver.*_from`), or 0 for never."""
    return Rule(
        lambda value: isinstance(value, int) and value >= 0,
        f"must be 0 (never) or the MILP master from which {what}, a whole number",
    )


def threads() -> Rule:
    most = cores()
    return Rule(
        lambda value: isinstance(value, int) and 0 <= value <= most,
        f"must be from 0 (HiGHS decides) to {most}, the cores of this machine",
    )


NON_NEGATIVE = number(0)
SHARE = number(0, 1)
RATE = number(0, 1)  # per year

# key -> rule; `key.*` applies to every value of a mapping.
RULES: dict[str, Rule] = {
    "scenario.objective": one_of(OBJECTIVES),
    # without capacity or transport rows, flows and activity would be unbounded
    "scenario.families": some_of(FAMILIES, needed=("capacity", "transport")),
    "scenario.carbon_price": NON_NEGATIVE,
    "scenario.carbon_cap": optional(NON_NEGATIVE),
    "scenario.carbon_cap_pct": optional(NON_NEGATIVE),
    "scenario.carbon_weight": NON_NEGATIVE,
    "scenario.budget": optional(NON_NEGATIVE),
    "scenario.budget_shares.*": SHARE,
    "scenario.discount_rate": RATE,
    "scenario.green_rate": RATE,
    "scenario.max_import_share": optional(SHARE),
    "scenario.demand_growth": NON_NEGATIVE,
    "scenario.pareto_points": Rule(
        lambda value: isinstance(value, int) and value >= 2, "must be a whole number >= 2"
    ),
    "scenario.pareto_method": one_of(PARETO_METHODS),
    "corridor.crossing_capacity.*": NON_NEGATIVE,
    "corridor.tariff.*": NON_NEGATIVE,
    "corridor.border_delay_cost.*": NON_NEGATIVE,
    "analysis.name": one_of(ANALYSES),
    "disruption.capacity_cut.*": SHARE,
    "disruption.demand_factor": NON_NEGATIVE,
    "disruption.price_factor.*": NON_NEGATIVE,
    "solver.time_limit": Rule(
        lambda value: value == math.inf or number(0, above=True).test(value),
        "must be a number > 0 (seconds), or inf for no limit",
    ),
    "solver.mip_gap": number(0, 1),
    "solver.strengthen": some_of(STRENGTHENING),
    "solver.method": one_of(METHODS),
    "solver.root_lp": one_of(ROOT_LPS),
    "solver.neighbours_from": from_master("neighbours are cut"),
    "solver.keep_period_from": from_master("a period is kept whole"),
    "scenario.risk.alpha": Rule(
        lambda value: number(0, 1).test(value) and value < 1, "must be a number from 0 to below 1"
    ),
    "scenario.risk.weight": Rule(  # at 1 futures outside the tail would carry no cost
        lambda value: number(0, 1).test(value) and value < 1, "must be a number from 0 to below 1"
    ),
    "uncertainty.sample.count": Rule(
        lambda value: isinstance(value, int) and 0 <= value <= MAX_FUTURES,
        f"must be a whole number from 0 to {MAX_FUTURES:,}",
    ),
    "analysis.slack": number(0, 10),
    "analysis.directions": Rule(
        lambda value: isinstance(value, int) and 0 <= value <= 1000, "must be from 0 to 1000"
    ),
    "analysis.worth_futures": Rule(  # one draw has no spread to give a standard error
        lambda value: isinstance(value, int) and (value == 0 or value >= 2),
        "must be 0 (every future) or a whole number >= 2",
    ),
    "parallel.backend": one_of(BACKENDS),
    "parallel.workers": Rule(
        lambda value: isinstance(value, int) and value >= 0, "must be a whole number >= 0"
    ),
    "solver.seed": Rule(
        lambda value: isinstance(value, int) and 0 <= value < 2**31, "must be from 0 to 2^31-1"
    ),
}


def config_problems(cfg: DictConfig, schema: type) -> list[str]:
    """Every problem of the resolved `cfg`: keys that `schema` (the structured config) does
    not know, and values that break a rule, each as one line."""
    config = OmegaConf.to_container(cfg, resolve=True)
    problems = _unknown_keys(config, schema, "")
    rules = {**RULES, "solver.threads": threads()}
    for key, rule in rules.items():
        group, _, name = key.rpartition(".")
        if name == "*":
            mapping = _get(config, group)
            items = mapping.items() if isinstance(mapping, dict) else []
            checked = [(f"{group}.{k}", v) for k, v in items]
        else:
            value = _get(config, key)
            checked = [] if value is MISSING else [(key, value)]
        problems += [f"{k}={v!r}: {rule.text}" for k, v in checked if not rule.test(v)]
    return problems


def _get(config: dict, key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def _unknown_keys(config: dict, schema: type, prefix: str) -> list[str]:
    """Keys added with `+key=value` that no field of the structured config declares."""
    known = {field.name for field in fields(schema)}
    types = get_type_hints(schema)  # the annotations are strings (postponed evaluation)
    problems = []
    for key, value in config.items():
        if key not in known:
            problems.append(
                f"{prefix}{key}={value!r}: unknown key (known: {', '.join(sorted(known))})"
            )
        elif isinstance(value, dict) and is_dataclass(types[key]):
            problems += _unknown_keys(value, types[key], f"{prefix}{key}.")
    return problems
