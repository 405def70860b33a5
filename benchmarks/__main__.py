"""python -m benchmarks run --tier smoke|full [--case NAME] --out DIR
python -m benchmarks check DIR [--update-baseline]
python -m benchmarks report DIR"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.cases import select
from benchmarks.runner import run_cases

BASELINE = Path(__file__).with_name("baseline.json")
COUNTERS = ("variables", "integer_variables", "constraints", "nonzeros")


def exact(row: pd.Series) -> bool:
    """An objective that must be reproduced: proven optimal with no gap tolerance."""
    return row["status"] == "optimal" and (row["gap"] or 0) <= 1e-9


def check(results: pd.DataFrame, baseline: dict) -> list[str]:
    """Differences from the baseline: model sizes (deterministic) and exact objectives."""
    problems = []
    for row in results.drop_duplicates("case").itertuples():
        expected = baseline.get(row.case)
        if row.status not in ("optimal", "time_limit"):
            problems.append(f"{row.case}: status {row.status}")
            continue
        if expected is None:
            problems.append(f"{row.case}: no baseline (run check --update-baseline)")
            continue
        for counter in COUNTERS:
            if counter in expected and getattr(row, counter) != expected[counter]:
                problems.append(
                    f"{row.case}: {counter} {getattr(row, counter)} != baseline {expected[counter]}"
                )
        known = (
            row.published_optimum if pd.notna(row.published_optimum) else expected.get("objective")
        )
        if (
            known is not None
            and exact(pd.Series(row._asdict()))
            and not np.isclose(row.objective, known, rtol=1e-6, atol=1e-6)
        ):
            problems.append(f"{row.case}: objective {row.objective} != {known}")
    return problems


def baseline_of(results: pd.DataFrame) -> dict:
    """Each case's model size and exact objective. A case that times a whole analysis (many
    models) has no model size, so its entry holds what it has: at least that it ran."""
    baseline = {}
    for _, row in results.drop_duplicates("case").iterrows():
        entry = {c: int(row[c]) for c in COUNTERS if c in row and pd.notna(row[c])}
        if exact(row):
            entry["objective"] = float(row["objective"])
        baseline[row["case"]] = entry
    return baseline


def synthetic(results: pd.DataFrame, relaxed: bool) -> pd.DataFrame:
    """The synthetic cases (LP relaxations or MILPs), smallest first."""
    cases = results[results["case"].str.startswith("synthetic") & (results["relaxed"] == relaxed)]
    return cases.sort_values("nonzeros")


def slope(frame: pd.DataFrame, column: str) -> float:
    """Log-log slope of `column` against nonzeros, over sizes of 100k nonzeros and more
    (below that, fixed per-model costs flatten the curve)."""
    large = frame[frame["nonzeros"] >= 1e5]
    if len(large) < 2:
        return float("nan")
    return float(np.polyfit(np.log(large["nonzeros"]), np.log(large[column]), 1)[0])


def targets(results: pd.DataFrame) -> dict[str, float]:
    """The figures issue 6 sets targets for, from one run's results."""
    lp, milp = synthetic(results, True), synthetic(results, False)
    largest = lp.iloc[-1] if len(lp) else None
    at_1m = {name: frame[frame["nonzeros"] >= 1e6] for name, frame in (("lp", lp), ("milp", milp))}
    return {
        "build_slope": slope(lp, "build_s"),
        "handoff_slope": slope(lp, "handoff_s"),
        "kb_per_nonzero_largest": (
            float(largest["peak_rss_mb"] * 1024 / largest["nonzeros"])
            if largest is not None
            else float("nan")
        ),
        **{
            f"overhead_ratio_{name}_1m": float(frame["overhead_ratio"].iloc[0])
            if len(frame)
            else float("nan")
            for name, frame in at_1m.items()
        },
    }


OVERHEAD = (
    "case",
    "nonzeros",
    "integer_variables",
    "build_s",
    "handoff_s",
    "solve_s",
    "highs_alone_s",
    "overhead_ratio",
    "peak_rss_mb",
    "status",
    "gap",
)
SOLVE_POWER = (  # issue 16: how far the root is from the end, and when plans arrive
    "case",
    "status",
    "gap",
    "root_gap",
    "first_incumbent_s",
    "to_1pct_s",
    "to_target_s",
    "nodes",
    "peer_s",
    "points_optimal",
    "points",
)


def tables(results: pd.DataFrame) -> str:
    """The run's two Markdown tables: modelling overhead, then solve power (the columns a
    run has; a tier without peers or analyses has no such columns)."""
    return "\n\n".join(
        results[[c for c in columns if c in results.columns]].to_markdown(
            index=False, floatfmt=".3g"
        )
        for columns in (OVERHEAD, SOLVE_POWER)
    )


def report(directory: Path) -> None:
    results = pd.read_parquet(directory / "results.parquet")
    print(tables(results))
    print()
    for name, value in targets(results).items():
        print(f"{name}: {value:.3g}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lp = synthetic(results, True)
    figure, axes = plt.subplots(figsize=(7, 5))
    for column in ("build_s", "handoff_s", "solve_s"):
        axes.loglog(
            lp["nonzeros"], lp[column], "o-", label=f"{column} (slope {slope(lp, column):.2f})"
        )
    axes.set_xlabel("nonzeros")
    axes.set_ylabel("seconds")
    axes.set_title("twin on the synthetic hypercluster (LP relaxation)")
    axes.legend()
    figure.savefig(directory / "scaling.png", dpi=120, bbox_inches="tight")
    print(f"wrote {directory / 'scaling.png'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run")
    run.add_argument("--tier", choices=("smoke", "full"), default="smoke")
    run.add_argument("--case")
    run.add_argument("--repetitions", type=int, default=1)
    run.add_argument("--out", type=Path, required=True)
    checking = commands.add_parser("check")
    checking.add_argument("directory", type=Path)
    checking.add_argument("--update-baseline", action="store_true")
    reporting = commands.add_parser("report")
    reporting.add_argument("directory", type=Path)
    args = parser.parse_args(argv)
    if args.command == "run":
        results = run_cases(select(args.tier, args.case), args.tier, args.repetitions)
        args.out.mkdir(parents=True, exist_ok=True)
        results.to_parquet(args.out / "results.parquet", index=False)
        print(f"wrote {args.out / 'results.parquet'}")
        return 0
    if args.command == "report":
        report(args.directory)
        return 0
    results = pd.read_parquet(args.directory / "results.parquet")
    baseline = json.loads(BASELINE.read_text()) if BASELINE.exists() else {}
    if args.update_baseline:
        baseline.update(baseline_of(results))
        BASELINE.write_text(json.dumps(baseline, indent=2, sort_keys=True) + "\n")
        print(f"updated {BASELINE}")
        return 0
    problems = check(results, baseline)
    for problem in problems:
        print(problem)
    print("benchmark check:", "failed" if problems else "ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
