"""Rich rendering of a design comparison for the terminal."""

from __future__ import annotations

from rich.table import Table

from sfn_callback.cost.comparison import Comparison, DesignRow
from sfn_callback.cost.model import Threshold


def format_money(amount: float, currency: str, digits: int = 8) -> str:
    """An amount with enough decimals for per-job costs (fractions of a cent)."""
    symbol = "$" if currency == "USD" else f"{currency} "
    return f"{symbol}{amount:,.{digits}f}"


def format_polls(polls: float) -> str:
    """A polls-per-job value: whole numbers without decimals."""
    return f"{polls:g}" if float(polls).is_integer() else f"{polls:.2f}"


def describe_threshold(threshold: Threshold | None, what: str) -> str:
    """One sentence saying from how many polls per job ``what`` holds, or that it never does."""
    if threshold is None:
        return f"{what}: never, at any number of polls per job"
    note = " (extrapolated beyond the measured polls)" if threshold.extrapolated else ""
    unit = "poll" if threshold.polls == 1 else "polls"
    return f"{what}: from {format_polls(threshold.polls)} {unit} per job{note}"


def _monthly_cell(row: DesignRow, currency: str) -> str:
    parts = [row.monthly_with_free_tier, row.monthly_without_free_tier]
    return " | ".join("-" if cost is None else format_money(cost.total, currency, 2) for cost in parts)


def render_comparison(comparison: Comparison) -> Table:
    """A table of cost per job (and monthly bills when jobs per month are set) and reduction per polls value."""
    currency = comparison.prices.currency
    design, baseline = comparison.design_name, comparison.baseline_name
    table = Table(
        title=f"Cost per job: {design} vs {baseline}",
        caption="\n".join(
            [
                f"Prices: {comparison.prices.region}, as of {comparison.prices.as_of.isoformat()}, {currency}; "
                "cost per job without free tiers.",
                describe_threshold(comparison.break_even, f"{design} no dearer than {baseline}"),
                describe_threshold(
                    comparison.target_reached, f"{comparison.target_reduction_percent:g}% reduction reached"
                ),
            ]
        ),
    )
    table.add_column("polls/job", justify="right")
    table.add_column("counts from")
    table.add_column(f"{design} per job", justify="right")
    table.add_column(f"{baseline} per job", justify="right")
    table.add_column("reduction", justify="right")
    monthly = comparison.jobs_per_month is not None
    if monthly:
        jobs = f"{comparison.jobs_per_month:,.0f} jobs"
        table.add_column(f"{design} / month ({jobs}, free tier | none)", justify="right")
        table.add_column(f"{baseline} / month ({jobs}, free tier | none)", justify="right")
    for row in comparison.rows:
        cells = [
            format_polls(row.polls),
            row.source,
            format_money(row.design.cost_per_job.total, currency),
            format_money(row.baseline.cost_per_job.total, currency),
            f"{row.reduction_percent:.1f}%",
        ]
        if monthly:
            cells.extend(_monthly_cell(side, currency) for side in (row.design, row.baseline))
        table.add_row(*cells)
    return table
