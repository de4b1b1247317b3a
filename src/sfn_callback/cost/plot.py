"""PNG plot of cost per job against polls per job for both designs of a comparison.

matplotlib is imported inside the function (with the non-interactive Agg backend), so the rest of the
cost model works where matplotlib is not installed.
"""

from __future__ import annotations

from pathlib import Path

from sfn_callback.cost.comparison import Comparison
from sfn_callback.cost.model import cost_at, cost_per_job
from sfn_callback.cost.tables import format_polls

_SAMPLES = 200


def plot_cost_per_job(comparison: Comparison, out_path: str | Path, *, max_polls: float | None = None) -> Path:
    """Write the plot to ``out_path`` (PNG) and return the path.

    Lines are the fitted costs of each design, markers the measured points. The target reduction's
    crossing (where the design's saving reaches the target and keeps it) is marked when there is one.
    The x axis runs from ``comparison.min_polls`` to ``max_polls`` (default: past the last measured
    value and the crossing).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    measured = [*comparison.design_measurements, *comparison.baseline_measurements]
    end = max_polls
    if end is None:
        end = max(measured)
        if comparison.target_reached is not None:
            end = max(end, comparison.target_reached.polls)
        end *= 1.1
    start = comparison.min_polls
    if end <= start:
        raise ValueError(f"the plot needs max_polls above {start}, got {end}")
    xs = [start + (end - start) * i / (_SAMPLES - 1) for i in range(_SAMPLES)]
    prices = comparison.prices
    currency = prices.currency

    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    try:
        for name, fit, points in (
            (comparison.design_name, comparison.design_fit, comparison.design_measurements),
            (comparison.baseline_name, comparison.baseline_fit, comparison.baseline_measurements),
        ):
            (line,) = ax.plot(xs, [cost_at(fit, prices, x).total for x in xs], label=f"{name} (fit)")
            shown = sorted(p for p in points if p <= end)
            ax.plot(
                shown,
                [cost_per_job(points[p], prices).total for p in shown],
                "o",
                color=line.get_color(),
                label=f"{name} (measured)",
            )
        threshold = comparison.target_reached
        if threshold is not None and threshold.polls <= end:
            ax.axvline(threshold.polls, linestyle="--", color="grey")
            ax.annotate(
                f"{comparison.target_reduction_percent:g}% reduction from {format_polls(threshold.polls)} polls",
                xy=(threshold.polls, cost_at(comparison.baseline_fit, prices, threshold.polls).total),
                xytext=(6, 6),
                textcoords="offset points",
            )
        ax.set_xlabel("polls per job")
        ax.set_ylabel(f"cost per job ({currency}, no free tier)")
        ax.set_title(f"Cost per job, {prices.region}, prices as of {prices.as_of.isoformat()}")
        ax.set_xlim(start - 0.02 * (end - start), end)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend()
        path = Path(out_path)
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path
