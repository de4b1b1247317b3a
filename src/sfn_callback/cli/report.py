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
    monitoring: bool = typer.Option(True, "--monitoring/--no-monitoring",
                                    help="Read the monitoring section's metrics and alarm history from the target "
                                         "(--endpoint)."),
    as_json: bool = JsonOption,
) -> None:
    """Write a self-contained HTML report and a Markdown report: architecture, scenarios, latency, cost, scale,
    monitoring."""
    from sfn_callback.cost.pricing import load_price_table
    from sfn_callback.report.report import load_inputs, write_report

    try:
        prices = load_price_table(region or state(ctx).region, prices_file)
    except ValueError as exc:
        err_console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    inputs = load_inputs()
    if monitoring:
        from sfn_callback import config
        from sfn_callback.dashboard.report_section import collect_monitoring

        inputs.monitoring = collect_monitoring(state(ctx).target, config.state_dir())
        if not inputs.monitoring.get("error"):
            inputs.sources.append(f"CloudWatch of {inputs.monitoring['target']}")
    paths = write_report(out, prices, inputs)
    if as_json:
        found = inputs.monitoring or {}
        emit_json({"paths": paths, "sources": inputs.sources,
                   "monitoring": None if inputs.monitoring is None else {
                       "error": found.get("error"), "graphs": sum(1 for g in found.get("graphs", [])
                                                                  if any(s["points"] for s in g["series"])),
                       "alarms": len(found.get("alarms") or []), "history": len(found.get("history") or [])}})
        return
    console_for(False).print(f"wrote {paths['html']} and {paths['markdown']} (from {len(inputs.sources)} source(s))")
    if inputs.monitoring is not None and inputs.monitoring.get("error"):
        err_console.print(f"monitoring section without data: {inputs.monitoring['error']}", markup=False,
                          highlight=False)
