"""``report``: the PoC report (HTML and Markdown) from the latest saved measurements."""

from __future__ import annotations

import typer

from sfn_callback.cli.common import JsonOption, console_for, emit_json, err_console, state


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    app.command("report")(report)


def report(
    ctx: typer.Context,
    out: str = typer.Option("report", "--out", help="Directory for report.html, report.md and the plots."),
    region: str = typer.Option(None, "--region", help="Price table region; default: the global --region."),
    prices_file: str = typer.Option(None, "--prices", help="A price table JSON file of your own."),
    as_json: bool = JsonOption,
) -> None:
    """Write a self-contained HTML report and a Markdown report: architecture, scenarios, latency, cost, scale."""
    from sfn_callback.cost.pricing import load_price_table
    from sfn_callback.report.report import load_inputs, write_report

    try:
        prices = load_price_table(region or state(ctx).region, prices_file)
    except ValueError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    inputs = load_inputs()
    paths = write_report(out, prices, inputs)
    if as_json:
        emit_json({"paths": paths, "sources": inputs.sources})
        return
    console_for(False).print(f"wrote {paths['html']} and {paths['markdown']} (from {len(inputs.sources)} saved result(s))")
