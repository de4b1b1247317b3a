"""``cost measure``, ``cost show``, ``cost estimate`` and ``bench scale``: the measured cost model and the scale bench."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from sfn_callback.cli.common import JsonOption, console_for, emit_json, err_console, state

if TYPE_CHECKING:
    from sfn_callback.cost.comparison import Comparison

cost_app = typer.Typer(help="Measured cost of the callback pattern against polling inside Step Functions.",
                       no_args_is_help=True)

RegionOption = typer.Option(None, "--region", help="Price table region (bundled tables); default: the global --region.")
PricesOption = typer.Option(None, "--prices", help="A price table JSON file of your own (overrides --region).")


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    app.add_typer(cost_app, name="cost")
    bench_app.command("scale")(bench_scale)


def _fail(message: str) -> NoReturn:
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(2)


def _prices(ctx: typer.Context, region: str | None, prices_file: str | None) -> Any:
    from sfn_callback.cost.pricing import load_price_table

    try:
        return load_price_table(region or state(ctx).region, prices_file)
    except ValueError as exc:
        _fail(str(exc))


def priced_document(measurement: dict[str, Any], prices: Any, jobs_per_month: float | None = None,
                    polls: list[float] | None = None) -> tuple[dict[str, Any], dict[str, Comparison]]:
    """The measurement priced (one comparison per design against the polling baseline), and the comparisons."""
    from sfn_callback.cost.measure import comparisons

    found = comparisons(measurement, prices, jobs_per_month=jobs_per_month, polls=polls)
    return {
        "price_table": prices.summary(),
        "measured_at": measurement.get("measured_at"),
        "interval_seconds": measurement.get("interval_seconds"),
        "jobs_per_point": measurement.get("jobs_per_point"),
        "problems": measurement.get("problems", []),
        "comparisons": {name: c.to_dict() for name, c in found.items()},
    }, found


def _print_comparisons(found: dict[str, Any], as_json: bool) -> None:
    from sfn_callback.cost.tables import render_comparison

    console = console_for(as_json)
    for comparison in found.values():
        console.print(render_comparison(comparison))


def _plots(found: dict[str, Any], directory: str) -> dict[str, str]:
    from sfn_callback.cost.plot import plot_cost_per_job

    paths = {}
    for name, comparison in found.items():
        paths[name] = str(plot_cost_per_job(comparison, os.path.join(directory, f"cost-{name}-vs-polling.png")))
    return paths


@cost_app.command("measure")
def measure(
    ctx: typer.Context,
    polls: str = typer.Option("1,3,5,10,15,30", "--polls", help="Polls per job to measure, comma-separated."),
    interval_seconds: int = typer.Option(1, "--interval-seconds", help="Polling interval of the measured jobs."),
    jobs_per_point: int = typer.Option(1, "--jobs-per-point", help="Jobs per design and polls value."),
    designs: str = typer.Option("callback,sweep,push,polling", "--designs",
                                help="Designs to run: callback (per-job schedules), sweep, push (push with fallback polls), polling (the baseline)."),
    region: str = RegionOption,
    prices_file: str = PricesOption,
    as_json: bool = JsonOption,
) -> None:
    """Run the same simulated jobs through each design on the local cloud, count their usage, price it."""
    from sfn_callback.cost.measure import MeasureConfig, MeasurementError, parse_polls, save_measurement
    from sfn_callback.cost.measure import measure as run

    prices = _prices(ctx, region, prices_file)
    try:
        cfg = MeasureConfig(polls=parse_polls(polls), interval_seconds=interval_seconds, jobs_per_point=jobs_per_point,
                            designs=tuple(d.strip() for d in designs.split(",") if d.strip()))
    except ValueError as exc:
        _fail(str(exc))
    try:
        doc = run(state(ctx).target, cfg, progress=lambda message: err_console.print(f"[dim]{message}[/dim]"))
    except MeasurementError as exc:
        _fail(str(exc))
    path = save_measurement(doc)
    priced, found = priced_document(doc, prices)
    priced["measurement_file"] = path
    priced["plots"] = _plots(found, os.path.dirname(path))
    priced["wall_seconds"] = doc["wall_seconds"]
    _print_comparisons(found, as_json)
    console = console_for(as_json)
    for problem in doc["problems"]:
        console.print(f"[yellow]check:[/yellow] {problem}")
    console.print(f"measured in {doc['wall_seconds']:.1f} s; saved {path}; plots {', '.join(priced['plots'].values())}")
    if as_json:
        emit_json(priced)


@cost_app.command("show")
def show(
    ctx: typer.Context,
    region: str = RegionOption,
    prices_file: str = PricesOption,
    as_json: bool = JsonOption,
) -> None:
    """Price the latest measurement again (another region or price file), without re-running anything."""
    from sfn_callback.cost.measure import load_measurement

    prices = _prices(ctx, region, prices_file)
    try:
        doc = load_measurement()
        priced, found = priced_document(doc, prices)
    except ValueError as exc:
        _fail(str(exc))
    _print_comparisons(found, as_json)
    if as_json:
        emit_json(priced)


@cost_app.command("estimate")
def estimate(
    ctx: typer.Context,
    jobs_per_month: float = typer.Option(..., "--jobs-per-month", help="Jobs per month."),
    polls: float = typer.Option(..., "--polls", help="Polls per job."),
    region: str = RegionOption,
    prices_file: str = PricesOption,
    as_json: bool = JsonOption,
) -> None:
    """The monthly bill of each design, with and without free tiers, from the latest measurement's counts."""
    from sfn_callback.cost.measure import load_measurement
    from sfn_callback.cost.tables import format_money

    if jobs_per_month < 0 or polls < 1:
        _fail(f"--jobs-per-month must be >= 0 and --polls >= 1, got {jobs_per_month:g} and {polls:g}")
    prices = _prices(ctx, region, prices_file)
    try:
        doc = load_measurement()
        priced, found = priced_document(doc, prices, jobs_per_month=jobs_per_month, polls=[polls])
    except ValueError as exc:
        _fail(str(exc))
    bills: dict[str, Any] = {}
    for name, comparison in found.items():
        row = comparison.rows[0]
        for design, side in ((comparison.design_name, row.design), (comparison.baseline_name, row.baseline)):
            with_free, without_free = side.monthly_with_free_tier, side.monthly_without_free_tier
            assert with_free is not None and without_free is not None  # priced with jobs_per_month
            bills[design] = {
                "counts_per_job": side.counts.as_dict(),
                "counts_from": row.source,
                "cost_per_job": side.cost_per_job.total,
                "monthly_with_free_tier": with_free.total,
                "monthly_without_free_tier": without_free.total,
                "monthly_by_meter_without_free_tier": dict(without_free.by_meter),
            }
        bills[name]["reduction_percent"] = row.reduction_percent
    result = {"jobs_per_month": jobs_per_month, "polls": polls, "price_table": prices.summary(),
              "measured_at": doc.get("measured_at"), "designs": bills}
    if as_json:
        emit_json(result)
        return
    from rich.table import Table

    table = Table(title=f"Monthly bill: {jobs_per_month:,.0f} jobs x {polls:g} polls per job "
                        f"({prices.region}, prices as of {prices.as_of.isoformat()})")
    for column in ("design", "per job", "month, free tier", "month, no free tier", "reduction vs polling", "counts"):
        table.add_column(column, justify="left" if column in ("design", "counts") else "right")
    for design, bill in bills.items():
        reduction = bill.get("reduction_percent")
        table.add_row(design, format_money(bill["cost_per_job"], prices.currency),
                      format_money(bill["monthly_with_free_tier"], prices.currency, 2),
                      format_money(bill["monthly_without_free_tier"], prices.currency, 2),
                      "-" if reduction is None else f"{reduction:.1f}%", bill["counts_from"])
    console_for(False).print(table)


def bench_scale(
    ctx: typer.Context,
    jobs: str = typer.Option("100,300,1000", "--jobs", help="Concurrent waiting jobs per size, comma-separated."),
    mode: str = typer.Option("sweep", "--mode",
                             help="per-job (one schedule per job), sweep, or both (alternately, same run, with ratios)."),
    interval_seconds: int = typer.Option(2, "--interval-seconds", help="Polling interval of the jobs."),
    polls: int = typer.Option(3, "--polls", help="Status checks each job needs."),
    as_json: bool = JsonOption,
) -> None:
    """Start N jobs at once, wait for all, and report throughput, reconnect latency, memory, CPU and losses."""
    from sfn_callback.bench.scale import ScaleConfig, ScaleError, run_scale, save_scale

    try:
        sizes = tuple(int(x) for x in jobs.split(",") if x.strip())
        cfg = ScaleConfig(sizes=sizes, mode=mode, interval_seconds=interval_seconds, polls=polls)
    except ValueError as exc:
        _fail(f"{exc}")
    try:
        result = run_scale(state(ctx).target, cfg,
                           progress=lambda message: err_console.print(f"[dim]{message}[/dim]"))
    except ScaleError as exc:
        _fail(str(exc))
    path = save_scale(result)
    if as_json:
        emit_json(result | {"saved": path})
        return
    from rich.table import Table

    table = Table(title=f"Scale bench, mode {mode} ({polls} polls per job, every {interval_seconds} s)")
    for column in ("mode", "jobs", "start all (s)", "all finished (s)", "jobs/s", "jobs/s after start", "polls/s",
                   "reconnect p50 (ms)", "reconnect p99 (ms)", "local cloud RSS (MB)", "threads",
                   "local cloud CPU (cores)", "workers CPU (cores)", "load avg", "lost", "duplicate callbacks"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for row in result["sizes"]:
        lc = row["local_cloud"]
        load = row.get("load_average_after") or row.get("load_average_before")
        table.add_row(row["mode"], str(row["jobs"]), f"{row['start_seconds']:.1f}", f"{row['finish_seconds']:.1f}",
                      f"{row['jobs_per_second']:.2f}", f"{row['drain_jobs_per_second']:.2f}",
                      f"{row['polls_per_second']:.1f}",
                      _ms(row["reconnect"]["p50"]), _ms(row["reconnect"]["p99"]),
                      _mb(lc.get("peak_rss_mb")), str(lc.get("peak_threads", "-")),
                      "-" if lc.get("cpu_cores") is None else f"{lc['cpu_cores']:.2f}",
                      "-" if lc.get("workers_cpu_cores") is None else f"{lc['workers_cpu_cores']:.2f}",
                      "-" if not load else f"{load[0]:.1f}",
                      str(row["lost"]), str(row["duplicate_callbacks"]))
    console_for(False).print(table)
    for c in result.get("comparison", []):
        ratio, drain = c["jobs_per_second_ratio"], c["drain_jobs_per_second_ratio"]
        console_for(False).print(
            f"{c['jobs']} jobs: sweep/per-job jobs/s = {'-' if ratio is None else f'{ratio:.2f}x'}, "
            f"after the last start = {'-' if drain is None else f'{drain:.2f}x'}")
    for note in result.get("notes", []):
        console_for(False).print(f"note: {note}")
    console_for(False).print(f"saved {path}")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
