"""The `twin` console script: one subcommand per task.

User errors (bad data, bad arguments) print a clear message and exit 2 without a traceback;
Ctrl-C prints one line and exits 130, as a shell reports a process it interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from twin.data import DatasetError, capped, load_dataset
from twin.network import build_graph, check_structure, derive_sets

USER_ERROR = 2
INTERRUPTED = 130  # 128 + SIGINT


def validate(path: str, console: Console) -> int:
    """Load and check a dataset; print a summary, or the problems found (the first of each
    file, and how many more)."""
    try:
        ds = load_dataset(path)
    except DatasetError as error:
        console.print(f"[bold red]{escape(path)}: {error.count:,} problem(s)[/]", soft_wrap=True)
        for line in error.lines():
            console.print(line, highlight=False, markup=False, soft_wrap=True)
        return USER_ERROR
    sets = derive_sets(ds)
    report = check_structure(ds, sets)
    warnings = [*map(str, ds.warnings), *report.warnings]
    for label, style, messages in (
        ("warning", "yellow", warnings),
        ("error", "red", report.errors),
    ):
        for message in capped(messages):
            console.print(f"[{style}]{label}:[/] {escape(message)}", soft_wrap=True)
    if report.errors:
        return USER_ERROR
    console.print(_summary(ds, sets))
    console.print(f"[green]{escape(path)}: valid[/] (data hash {ds.data_hash})")
    return 0


def _summary(ds, sets) -> Table:
    table = Table(title=f"dataset {ds.name} ({ds.currency} {ds.meta['price_year']})")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("detail")
    for name, frame in ds.tables.items():
        table.add_row(f"{name}.csv", str(len(frame)), "")
    chains = sorted(set(ds.commodities["chain"]) | set(ds.technologies["chain"]))
    countries = sorted(set(ds.regions["country"]))
    crossings = ", ".join(ds.border_crossings["name"])
    table.add_row("chains", str(len(chains)), ", ".join(chains))
    table.add_row("countries", str(len(countries)), ", ".join(countries))
    table.add_row("border crossings", str(len(ds.border_crossings)), crossings)
    table.add_row("periods", str(len(sets.periods)), ", ".join(map(str, sets.periods)))
    graph = build_graph(ds)
    table.add_row(
        "graph nodes / edges",
        f"{graph.number_of_nodes()} / {graph.number_of_edges()}",
        "regions and sites; links, site inputs and outputs",
    )
    table.add_row("flow variables (sparse)", str(len(sets.link_flows)), "link x commodity x period")
    table.add_row("site-periods (sparse)", str(len(sets.site_periods)), "")
    return table


def orlib(args: argparse.Namespace, console: Console) -> int:
    """Solve an OR-Library CFLP instance with the model core; compare with its optimum.
    Warehouses that cannot serve all demand (a low `--capacity`) are `infeasible`: an
    answer, not a failure."""
    from twin.orlib import OrlibError, solve_instance

    keys = ("status", "objective", "published_optimum", "gap", "build_s", "solve_s")
    solved = _instance(
        lambda: solve_instance(args.file, args.capacity, args.time_limit),
        OrlibError,
        "OR-Library",
        keys,
        args.json,
        console,
    )
    return solved if solved == USER_ERROR else 0 if solved in ("optimal", "infeasible") else 1


def mcnd(args: argparse.Namespace, console: Console) -> int:
    """Solve a Canad MCND instance with the model core; compare with its known optimum.
    An instance no design can serve is `infeasible`: an answer, not a failure."""
    from twin.mcnd import McndError, known_optimum, solve_instance

    def solved_with_known() -> dict:
        summary = solve_instance(args.file, args.time_limit)
        known = known_optimum(summary["instance"]) or {}
        return summary | {"known_optimum": known.get("objective"), "known": known.get("status")}

    keys = ("status", "objective", "bound", "gap", "nodes", "known_optimum", "build_s", "solve_s")
    solved = _instance(solved_with_known, McndError, "MCND", keys, args.json, console)
    return solved if solved == USER_ERROR else 0 if solved in ("optimal", "infeasible") else 1


def _instance(solve, error: type[Exception], title: str, keys, as_json: bool, console) -> object:
    """Solve a benchmark instance and show its summary (a JSON object or a table); its
    status, or USER_ERROR for a file that cannot be read."""
    try:
        summary = solve()
    except (error, DatasetError) as problem:
        console.print(str(problem), markup=False, highlight=False, soft_wrap=True)
        return USER_ERROR
    if as_json:
        print(json.dumps(summary))
    else:
        table = Table(title=f"{title} {summary['instance']}")
        for key in keys:
            table.add_row(key, str(summary.get(key)))
        console.print(table)
    return summary["status"]


def report(args: argparse.Namespace, console: Console) -> int:
    """Write the HTML report of a run or sweep directory."""
    from twin.report import ReportError, write_report

    try:
        path = write_report(args.dir, args.out)
    except (ReportError, OSError) as error:
        message = str(error) if isinstance(error, ReportError) else f"twin report: {error}"
        Console(stderr=True).print(message, markup=False, highlight=False, soft_wrap=True)
        return USER_ERROR
    console.print(f"report: [bold]{escape(str(path.resolve()))}[/]", soft_wrap=True)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="twin", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the Hydra app: twin run [overrides...] (see --help)")
    check = commands.add_parser("validate", help="check a dataset directory and summarise it")
    check.add_argument("path", help="dataset directory (CSV files + dataset.yaml)")
    bench = commands.add_parser("orlib", help="solve an OR-Library CFLP instance (validation)")
    bench.add_argument("file", help="instance file, e.g. data/orlib_cflp/cap41.txt")
    bench.add_argument("--capacity", type=float, help="warehouse capacity (capa/capb/capc)")
    bench.add_argument("--time-limit", type=float, default=300.0, help="seconds (default 300)")
    bench.add_argument("--json", action="store_true", help="print one JSON object")
    design = commands.add_parser("mcnd", help="solve a Canad MCND instance (validation)")
    design.add_argument("file", help="instance file, e.g. data/mcnd_canad_r/r01.2.dow")
    design.add_argument("--time-limit", type=float, default=300.0, help="seconds (default 300)")
    design.add_argument("--json", action="store_true", help="print one JSON object")
    page = commands.add_parser("report", help="write report.html of a run or sweep directory")
    page.add_argument("dir", help="a run directory (run.json) or a sweep directory")
    page.add_argument("--out", help="the HTML file to write (default DIR/report.html)")
    return parser


def run(argv: list[str]) -> int:
    """`twin run [overrides...]`: hand the arguments to the Hydra app. A sweep fails (1)
    when any of its runs failed or it has no run at all."""
    from twin import app, lifeline, sweep

    sys.argv = ["twin run", *argv]
    lifeline.mark_launcher()
    try:
        app.run_app()
    except SystemExit as stop:  # Hydra's: it printed why it could not compose a config
        if stop.code == 1 and not app.EXIT_CODES and not sweep.LAST_SWEEP:
            return USER_ERROR  # no run began: an override or config it refused
        raise
    if not sweep.LAST_SWEEP:  # a single run: its own exit code
        return max(app.EXIT_CODES, default=0)
    summary = sweep.LAST_SWEEP[0]  # a sweep (whatever the launcher): 1 if any run failed
    console = Console(stderr=True)
    if summary.failed:
        listed = ", ".join(summary.failed)
        console.print(f"{len(summary.failed)} of {summary.runs} run(s) failed: {listed}")
    if summary.runs == len(summary.failed):
        console.print("the sweep has no finished run", style="red")
    if summary.blurred:
        console.print(
            f"[yellow]warning:[/] {len(summary.blurred)} run(s) have a solver gap wider than "
            "the difference of their objective to another run's (sweep.parquet: "
            "gap_exceeds_difference): the sweep does not order them; tighten solver.mip_gap",
            soft_wrap=True,
        )
    return 1 if summary.failed or not summary.runs else 0


def main(argv: list[str] | None = None) -> int:
    try:
        return _command(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt:  # a run's record and outputs are already safe (twin.app)
        Console(stderr=True).print(
            "interrupted (Ctrl-C): nothing more was written; a run's run.json says its "
            "attempt did not finish",
            soft_wrap=True,
        )
        return INTERRUPTED


def _command(argv: list[str]) -> int:
    if argv[:1] == ["run"]:
        return run(argv[1:])
    args = _parser().parse_args(argv)
    console = Console(stderr=False)
    if args.command == "validate":
        return validate(args.path, console)
    if args.command == "orlib":
        return orlib(args, console)
    if args.command == "mcnd":
        return mcnd(args, console)
    if args.command == "report":
        return report(args, console)
    return USER_ERROR  # unreachable: argparse rejects unknown commands


if __name__ == "__main__":
    sys.exit(main())
