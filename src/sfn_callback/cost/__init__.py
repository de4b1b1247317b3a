"""Cost model of the callback pattern versus polling: dated prices, per-job and monthly costs, thresholds.

Pure computation (no cloud): the measurement code passes in per-job usage counts and gets back costs,
reductions, the break-even point and where a target reduction is reached, as data, a Rich table or a plot
(``sfn_callback.cost.plot``, which needs matplotlib).
"""

from sfn_callback.cost.comparison import Comparison, compare_designs, measurements_from_dict
from sfn_callback.cost.model import (
    AffineCounts,
    CostBreakdown,
    Threshold,
    billed_gb_seconds,
    break_even_polls,
    cost_at,
    cost_per_job,
    fit_affine,
    monthly_bill,
    polls_for_reduction,
    reduction_percent,
)
from sfn_callback.cost.pricing import PriceTable, available_regions, load_price_table
from sfn_callback.cost.tables import render_comparison
from sfn_callback.cost.usage import METERS, UsageCounts
from sfn_callback.observe.history import callback_reconnects, count_state_transitions, history_counts

__all__ = [
    "METERS",
    "AffineCounts",
    "Comparison",
    "CostBreakdown",
    "PriceTable",
    "Threshold",
    "UsageCounts",
    "available_regions",
    "billed_gb_seconds",
    "break_even_polls",
    "callback_reconnects",
    "compare_designs",
    "cost_at",
    "cost_per_job",
    "count_state_transitions",
    "fit_affine",
    "history_counts",
    "load_price_table",
    "measurements_from_dict",
    "monthly_bill",
    "polls_for_reduction",
    "reduction_percent",
    "render_comparison",
]
