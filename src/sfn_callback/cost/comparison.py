"""Comparison of two designs across polls-per-job values, as data (JSON-serialisable dicts).

A *design* (by default the callback workflow) is compared with a *baseline* (by default the polling
workflow). Both are measured at several polls-per-job values; each row of the comparison prices the
measured per-job counts where both designs were measured at that value, and the fitted counts
otherwise. The break-even point and the polls per job needed for a target reduction come from the
affine fits (see :mod:`sfn_callback.cost.model`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sfn_callback.cost.model import (
    AffineCounts,
    CostBreakdown,
    Threshold,
    break_even_polls,
    cost_per_job,
    fit_affine,
    monthly_bill,
    polls_for_reduction,
    reduction_percent,
)
from sfn_callback.cost.pricing import PriceTable
from sfn_callback.cost.usage import UsageCounts

DEFAULT_TARGET_REDUCTION_PERCENT = 87.0
"""The reduction seed 002 claims; the comparison reports whether and where it holds."""


@dataclass(frozen=True)
class DesignRow:
    """One design at one polls-per-job value."""

    counts: UsageCounts
    cost_per_job: CostBreakdown
    monthly_with_free_tier: CostBreakdown | None
    monthly_without_free_tier: CostBreakdown | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "counts": self.counts.as_dict(),
            "cost_per_job": self.cost_per_job.to_dict(),
            "monthly_with_free_tier": _optional(self.monthly_with_free_tier),
            "monthly_without_free_tier": _optional(self.monthly_without_free_tier),
        }


def _optional(cost: CostBreakdown | None) -> dict[str, Any] | None:
    return None if cost is None else cost.to_dict()


@dataclass(frozen=True)
class ComparisonRow:
    """Both designs at one polls-per-job value; ``source`` is ``measured`` or ``fitted``."""

    polls: float
    source: str
    design: DesignRow
    baseline: DesignRow

    @property
    def reduction_percent(self) -> float:
        """Saving of the design over the baseline, on cost per job."""
        return reduction_percent(self.design.cost_per_job.total, self.baseline.cost_per_job.total)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "polls": self.polls,
            "source": self.source,
            "design": self.design.to_dict(),
            "baseline": self.baseline.to_dict(),
            "reduction_percent": self.reduction_percent,
        }


@dataclass(frozen=True)
class Comparison:
    """Everything a table, a plot or a report needs to compare the two designs."""

    design_name: str
    baseline_name: str
    prices: PriceTable
    design_measurements: Mapping[float, UsageCounts]
    baseline_measurements: Mapping[float, UsageCounts]
    design_fit: AffineCounts
    baseline_fit: AffineCounts
    rows: tuple[ComparisonRow, ...]
    jobs_per_month: float | None
    target_reduction_percent: float
    min_polls: float
    break_even: Threshold | None
    target_reached: Threshold | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form; :func:`measurements_from_dict` reads the measurements back."""
        return {
            "price_table": self.prices.summary(),
            "design": self.design_name,
            "baseline": self.baseline_name,
            "jobs_per_month": self.jobs_per_month,
            "target_reduction_percent": self.target_reduction_percent,
            "min_polls": self.min_polls,
            "measurements": {
                self.design_name: _measurements_to_list(self.design_measurements),
                self.baseline_name: _measurements_to_list(self.baseline_measurements),
            },
            "fits": {self.design_name: self.design_fit.to_dict(), self.baseline_name: self.baseline_fit.to_dict()},
            "rows": [row.to_dict() for row in self.rows],
            "break_even": None if self.break_even is None else self.break_even.to_dict(),
            "target_reached": None if self.target_reached is None else self.target_reached.to_dict(),
        }


def _measurements_to_list(measurements: Mapping[float, UsageCounts]) -> list[dict[str, Any]]:
    return [{"polls": p, "counts": measurements[p].as_dict()} for p in sorted(measurements)]


def measurements_from_dict(data: Mapping[str, Any]) -> dict[str, dict[float, UsageCounts]]:
    """The per-design measurements saved by :meth:`Comparison.to_dict`, keyed by design name."""
    try:
        return {
            name: {float(item["polls"]): UsageCounts.from_dict(item["counts"]) for item in items}
            for name, items in data["measurements"].items()
        }
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed saved comparison: cannot read measurements ({exc!r})") from None


def _design_row(counts: UsageCounts, prices: PriceTable, jobs_per_month: float | None) -> DesignRow:
    if jobs_per_month is None:
        return DesignRow(counts, cost_per_job(counts, prices), None, None)
    return DesignRow(
        counts,
        cost_per_job(counts, prices),
        monthly_bill(counts, jobs_per_month, prices, free_tier=True),
        monthly_bill(counts, jobs_per_month, prices, free_tier=False),
    )


def compare_designs(
    design_measurements: Mapping[float, UsageCounts],
    baseline_measurements: Mapping[float, UsageCounts],
    prices: PriceTable,
    *,
    polls: Iterable[float] | None = None,
    jobs_per_month: float | None = None,
    target_reduction_percent: float = DEFAULT_TARGET_REDUCTION_PERCENT,
    min_polls: float = 1.0,
    design_name: str = "callback",
    baseline_name: str = "polling",
) -> Comparison:
    """Compare the design with the baseline at ``polls`` (default: every measured polls value).

    Each measurements mapping goes from polls per job to the per-job counts measured there. With
    ``jobs_per_month`` each row also carries the monthly bills with and without free tiers.
    """
    if design_name == baseline_name:
        raise ValueError(f"the design and the baseline need different names, both are {design_name!r}")
    design_fit = fit_affine(design_measurements)
    baseline_fit = fit_affine(baseline_measurements)
    requested = polls if polls is not None else [*design_measurements, *baseline_measurements]
    values = sorted({float(p) for p in requested})
    rows = []
    for p in values:
        if p in design_measurements and p in baseline_measurements:
            source, design_counts, baseline_counts = "measured", design_measurements[p], baseline_measurements[p]
        else:
            source, design_counts, baseline_counts = "fitted", design_fit.at(p), baseline_fit.at(p)
        rows.append(
            ComparisonRow(
                polls=p,
                source=source,
                design=_design_row(design_counts, prices, jobs_per_month),
                baseline=_design_row(baseline_counts, prices, jobs_per_month),
            )
        )
    return Comparison(
        design_name=design_name,
        baseline_name=baseline_name,
        prices=prices,
        design_measurements=dict(design_measurements),
        baseline_measurements=dict(baseline_measurements),
        design_fit=design_fit,
        baseline_fit=baseline_fit,
        rows=tuple(rows),
        jobs_per_month=jobs_per_month,
        target_reduction_percent=target_reduction_percent,
        min_polls=min_polls,
        break_even=break_even_polls(design_fit, baseline_fit, prices, min_polls=min_polls),
        target_reached=polls_for_reduction(
            design_fit, baseline_fit, prices, target_reduction_percent, min_polls=min_polls
        ),
    )
